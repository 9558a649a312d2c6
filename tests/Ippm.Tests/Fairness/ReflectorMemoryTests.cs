using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Ippm.Sessions.Control;
using Ippm.Sessions.Twamp;
using Ippm.Tests.Cli;
using Ippm.Tests.Loopback;
using Ippm.Wire;
using Ippm.Wire.Control;
using Xunit.Abstractions;

namespace Ippm.Tests.Fairness;

/// <summary>
/// The reflector under a memory attack: oversized datagrams are dropped and counted (MSG_TRUNC), not reflected
/// truncated; and one anonymous source asking for as many 65 000-octet-padding sessions as it can, fed with large
/// datagrams, holds only its memory share of an <c>ippm server</c> process (resident memory measured).
/// </summary>
public sealed partial class ReflectorMemoryTests(ITestOutputHelper output)
{
    private const string Attacker = "127.0.0.2";

    [Fact]
    public async Task DatagramLargerThanTheSessionsBuffer_DroppedAndCounted_NotReflectedTruncated()
    {
        await using var server = new TestServer();
        using var sender = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        sender.Bind(new IPEndPoint(IPAddress.Parse(Attacker), 0));
        int senderPort = ((IPEndPoint)sender.LocalEndPoint!).Port;
        await using (HostileClient client = await HostileClient.OpenAsync(Attacker, server.TwampEndPoint, ControlProtocol.Twamp).DefaultTimeout())
        {
            // Padding 100: 114-octet packets, a 2 048-octet receive slot.
            AcceptSession accept = await client.RequestTwampAsync(new SessionRequest { SenderPort = (ushort)senderPort, PaddingLength = 100, Timeout = NtpTimestamp.FromSeconds(1) }).DefaultTimeout();
            Assert.Equal(AcceptCode.Ok, accept.Accept);
            await client.StartSessionsAsync().DefaultTimeout();
            var reflector = new IPEndPoint(IPAddress.Loopback, accept.Port);
            byte[] reply = new byte[65536];

            await sender.SendToAsync(new byte[3000], reflector);
            using (var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(700)))
            {
                await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await sender.ReceiveAsync(reply, SocketFlags.None, wait.Token));
            }
            await sender.SendToAsync(new byte[114], reflector);
            using (var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
            {
                Assert.Equal(114, await sender.ReceiveAsync(reply, SocketFlags.None, wait.Token));
            }
        }
        // The reflector ends with the connection and reports what it dropped.
        for (int i = 0; i < 100 && !server.LoggerFactory.Contains(303); i++)
        {
            await Task.Delay(50);
        }
        Assert.Contains(server.LoggerFactory.Entries, e => e.EventId == 303 && e.Message.Contains("1 reflected", StringComparison.Ordinal) && e.Message.Contains("1 oversized", StringComparison.Ordinal));
    }

    private static long ResidentKiB(int pid, string field)
    {
        foreach (string line in File.ReadAllLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                return long.Parse(LeadingNumber().Match(line[(field.Length + 1)..]).Value, System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        throw new InvalidOperationException($"{field} not in /proc/{pid}/status");
    }

    [GeneratedRegex(@"\d+")]
    private static partial Regex LeadingNumber();

    [Fact]
    public async Task LargePaddingSessionsFromOneSource_HeldToItsMemoryShare_ServerProcessStaysSmall_LegitServed()
    {
        string dir = Directory.CreateTempSubdirectory("ippm-fair").FullName;
        string keys = Path.Combine(dir, "keys.pfs");
        await File.WriteAllTextAsync(keys, Ippm.Security.KeyFile.FormatLine(TestServer.Identity, TestServer.Passphrase));
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--pfs", keys, "--log-level", "Warning");
        var endPoint = new IPEndPoint(IPAddress.Loopback, await server.TwampPortAsync(TimeSpan.FromSeconds(60)));
        long before = ResidentKiB(server.Id, "VmRSS");

        using var sender = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        sender.Bind(new IPEndPoint(IPAddress.Parse(Attacker), 0));
        sender.ReceiveBufferSize = 1 << 16;
        int senderPort = ((IPEndPoint)sender.LocalEndPoint!).Port;
        var attackers = new List<HostileClient>();
        var reflectorPorts = new List<int>();
        int refused = 0;
        try
        {
            // Default flags: up to 16 connections for this source, 16 sessions each, until the server says no.
            for (int c = 0; c < 16 && refused == 0; c++)
            {
                HostileClient client = await HostileClient.OpenAsync(Attacker, endPoint, ControlProtocol.Twamp).DefaultTimeout();
                attackers.Add(client);
                for (int s = 0; s < 16; s++)
                {
                    AcceptSession accept = await client.RequestTwampAsync(new SessionRequest { SenderPort = (ushort)senderPort, PaddingLength = 65000, Timeout = NtpTimestamp.FromSeconds(1) }).DefaultTimeout();
                    if (accept.Accept != AcceptCode.Ok)
                    {
                        Assert.Equal(AcceptCode.TemporaryResourceLimitation, accept.Accept);
                        refused++;
                        break;
                    }
                    reflectorPorts.Add(accept.Port);
                }
                await client.StartSessionsAsync().DefaultTimeout();
            }
            Assert.True(refused > 0, "the source was never refused");

            // Feed every session datagrams of the full size and larger (the kernel truncates those: dropped).
            byte[] full = new byte[14 + 65000];
            byte[] oversized = new byte[65507];
            foreach (int reflectorPort in reflectorPorts)
            {
                var reflector = new IPEndPoint(IPAddress.Loopback, reflectorPort);
                for (int k = 0; k < 8; k++)
                {
                    await sender.SendToAsync(full, reflector);
                    await sender.SendToAsync(oversized, reflector);
                }
            }
            await Task.Delay(1000);
            long during = ResidentKiB(server.Id, "VmRSS");
            long peak = ResidentKiB(server.Id, "VmHWM");

            TwampSessionResult legit = await TwampMeasurement.RunAsync(new TwpingOptions
            {
                Server = endPoint,
                AcceptableModes = (uint)SecurityMode.Authenticated,
                Identity = TestServer.Identity,
                Secret = TestServer.Passphrase,
                Count = 50,
                Schedule = new SendSchedule(0.005, Exponential: false),
                Timeout = TimeSpan.FromSeconds(2),
            }, CancellationToken.None).DefaultTimeout();
            Assert.Equal(50, legit.Replies.Select(r => r.SenderSequence).Distinct().Count());

            output.WriteLine($"attacker: {reflectorPorts.Count} sessions with 65000-octet padding on {attackers.Count} connections, then refused; " +
                $"{reflectorPorts.Count * 16} datagrams of 65 014 and 65 507 octets");
            output.WriteLine($"server VmRSS: {before / 1024.0:0.0} MiB before, {during / 1024.0:0.0} MiB during (peak {peak / 1024.0:0.0} MiB)");
            // On a thread per session the source's 64 MiB memory share stops it (about 128 sessions of 512 KiB); on the
            // session engine a reflector is charged 16 KiB (its buffers are the loop's), so the 128-session share does.
            // Either way the process stays far below what 256 such sessions at 2 MiB each (the old bound) would take.
            Assert.InRange(reflectorPorts.Count, 64, 128);
            Assert.True(peak - before < 160 * 1024, $"the server grew by {(peak - before) / 1024} MiB");
        }
        finally
        {
            foreach (HostileClient c in attackers)
            {
                await c.DisposeAsync();
            }
            Directory.Delete(dir, recursive: true);
        }
    }
}
