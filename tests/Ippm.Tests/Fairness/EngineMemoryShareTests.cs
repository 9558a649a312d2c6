using System.Net;
using Ippm.Sessions.Engine;
using Ippm.Sessions.Twamp;
using Ippm.Tests.Loopback;
using Ippm.Wire;
using Ippm.Wire.Control;
using Ippm.Wire.Test;
using Xunit.Abstractions;

namespace Ippm.Tests.Fairness;

/// <summary>
/// The per-source memory share charges what a reflector really costs: on the session engine a few KiB (its buffers
/// are the loop's), on a thread of its own its batches. Under the default 64 MiB share a source can hold its default
/// 128 sessions, and the session share (not memory) is what stops it when an operator raises it.
/// </summary>
public sealed class EngineMemoryShareTests(ITestOutputHelper output)
{
    private const string Source = "127.0.0.3";

    [Fact]
    public void Charge_OnTheEngine_IsPerSession_NotTheThreadsBatches()
    {
        int openLength = TestPacketLayout.SenderHeader(false);
        Assert.Equal(TwampReflector.EngineSessionBytes, TwampReflector.BufferBytes(openLength, false, onEngine: true));
        Assert.Equal(TwampReflector.EngineSessionBytes, TwampReflector.BufferBytes(openLength + 65000, true, onEngine: true));
        // On a thread: 64 slots of 2 048 octets each way (and the reflector header), about 260 KiB.
        Assert.InRange(TwampReflector.BufferBytes(openLength, false, onEngine: false), 256 << 10, 270 << 10);
        Assert.True(TwampReflector.EngineSessionBytes <= 16 << 10);
    }

    [Theory]
    [InlineData(128)] // the default session share
    [InlineData(400)] // raised by the operator: the old per-thread charge stopped a source at about 247 sessions
    public async Task OneSource_HoldsItsSessionShare_UnderTheDefaultMemoryShare_OnTheEngine(int sessionShare)
    {
        Assert.NotNull(SessionEngine.Shared); // Linux: the server's reflectors run on the engine
        await using var server = new TestServer(o => o.MaxSessionsPerSource = sessionShare);
        Assert.Equal(64L << 20, server.Options.MaxMemoryPerSource);
        long threadCharge = TwampReflector.BufferBytes(TestPacketLayout.SenderHeader(false), false, onEngine: false);
        output.WriteLine($"{sessionShare} sessions: {sessionShare * TwampReflector.EngineSessionBytes >> 10} KiB charged on the engine; the thread charge would be {sessionShare * threadCharge >> 20} MiB");

        var clients = new List<HostileClient>();
        var reflectors = new List<int>();
        try
        {
            AcceptCode refusal = AcceptCode.Ok;
            while (refusal == AcceptCode.Ok && reflectors.Count <= sessionShare)
            {
                HostileClient client = await HostileClient.OpenAsync(Source, server.TwampEndPoint, ControlProtocol.Twamp).DefaultTimeout();
                clients.Add(client);
                for (int s = 0; s < server.Options.MaxSessionsPerConnection; s++)
                {
                    AcceptSession accept = await client.RequestTwampAsync(new SessionRequest { SenderPort = (ushort)(20000 + reflectors.Count), Timeout = NtpTimestamp.FromSeconds(1) }).DefaultTimeout();
                    if (accept.Accept != AcceptCode.Ok)
                    {
                        refusal = accept.Accept;
                        break;
                    }
                    reflectors.Add(accept.Port);
                }
            }
            Assert.Equal(sessionShare, reflectors.Count);
            Assert.Equal(AcceptCode.TemporaryResourceLimitation, refusal);
            // Refused by the session share, not by memory (ShareRefusal labels in the log line).
            Assert.Contains(server.LoggerFactory.Entries, e => e.Message.Contains($"already holds {sessionShare} test sessions", StringComparison.Ordinal));
            Assert.DoesNotContain(server.LoggerFactory.Entries, e => e.Message.Contains("KiB of reflector buffers", StringComparison.Ordinal));
        }
        finally
        {
            foreach (HostileClient c in clients)
            {
                await c.DisposeAsync();
            }
        }
    }
}
