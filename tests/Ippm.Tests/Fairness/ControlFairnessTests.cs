using System.Net;
using Ippm.Security;
using Ippm.Sessions.Control;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.Twamp;
using Ippm.Tests.Loopback;
using Ippm.Wire;
using Ippm.Wire.Control;

namespace Ippm.Tests.Fairness;

/// <summary>
/// Hostile O/TWAMP clients on 127.0.0.2 (a host of their own on loopback) against per-source shares, while a
/// legitimate authenticated client on 127.0.0.1 measures and loses nothing.
/// </summary>
public sealed class ControlFairnessTests
{
    private const string Attacker = "127.0.0.2";
    private static readonly ScheduleSlot[] s_slot = [new(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(0.01))];

    private static TwpingOptions Legit(IPEndPoint server, int count = 50) => new()
    {
        Server = server,
        AcceptableModes = (uint)SecurityMode.Authenticated,
        Identity = TestServer.Identity,
        Secret = TestServer.Passphrase,
        Count = count,
        Schedule = new SendSchedule(0.005, Exponential: false),
        Timeout = TimeSpan.FromSeconds(2),
    };

    private static async Task AssertLegitTwampLosesNothing(IPEndPoint server)
    {
        TwampSessionResult result = await TwampMeasurement.RunAsync(Legit(server), CancellationToken.None).DefaultTimeout();
        Assert.Equal(SecurityMode.Authenticated, result.Mode);
        Assert.Equal(50, result.Replies.Select(r => r.SenderSequence).Distinct().Count());
    }

    [Fact]
    public async Task IdleConnectionsFromOneSource_BeyondItsShare_RefusedWithModesZero_PreAuthDeadline_LegitServed()
    {
        // 32 connections server-wide: one source gets max(4, 32 / 16) = 4.
        await using var server = new TestServer(o =>
        {
            o.MaxConnections = 32;
            o.SetupTimeout = TimeSpan.FromSeconds(1);
        });
        var attackers = new List<HostileClient>();
        try
        {
            int served = 0, refused = 0, closedSilently = 0;
            for (int i = 0; i < 40; i++)
            {
                HostileClient c = await HostileClient.ConnectAsync(Attacker, server.TwampEndPoint);
                attackers.Add(c);
                ServerGreeting? greeting = await c.ReadGreetingAsync().DefaultTimeout();
                if (greeting is null)
                {
                    closedSilently++;
                }
                else if (greeting.Modes == 0)
                {
                    refused++;
                }
                else
                {
                    served++;
                }
            }
            Assert.Equal(4, served);
            Assert.Equal(36, refused);
            Assert.Equal(0, closedSilently);

            // The legitimate client from another address is served while the attacker holds its whole share.
            await AssertLegitTwampLosesNothing(server.TwampEndPoint);

            // The four that got a greeting never answer it: closed at the pre-authentication deadline.
            await Task.WhenAll(attackers.Select(a => a.ClosedByServerAsync())).DefaultTimeout();
            // One line for the first refusal; the rest are counted into an aggregate, not logged one by one.
            Assert.InRange(server.LoggerFactory.Entries.Count(e => e.Message.Contains("Server-Greeting Modes = 0", StringComparison.Ordinal)), 1, 2);
        }
        finally
        {
            foreach (HostileClient c in attackers)
            {
                await c.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task IdleOpenModeConnections_UnderPressure_ClosedSoon_LegitServed()
    {
        await using var server = new TestServer(o =>
        {
            o.MaxConnections = 8;
            o.MaxConnectionsPerSource = 8;
            o.OpenModeIdleUnderPressure = TimeSpan.FromMilliseconds(300);
        });
        var attackers = new List<HostileClient>();
        try
        {
            // Six of eight slots (3/4: pressure) held by idle open-mode connections; SERVWAIT is 900 s.
            for (int i = 0; i < 6; i++)
            {
                attackers.Add(await HostileClient.OpenAsync(Attacker, server.TwampEndPoint, ControlProtocol.Twamp).DefaultTimeout());
            }
            await Task.WhenAll(attackers.Select(a => a.ClosedByServerAsync())).DefaultTimeout();
            await AssertLegitTwampLosesNothing(server.TwampEndPoint);
        }
        finally
        {
            foreach (HostileClient c in attackers)
            {
                await c.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task OpenModeConnection_ClosedAtItsLifetime_AuthenticatedOneStays()
    {
        await using var server = new TestServer(o => o.OpenModeLifetime = TimeSpan.FromMilliseconds(500));
        await using HostileClient open = await HostileClient.OpenAsync(Attacker, server.TwampEndPoint, ControlProtocol.Twamp).DefaultTimeout();
        await using TwampControlClient authenticated = await TwampControlClient.ConnectAsync(
            server.TwampEndPoint, (uint)SecurityMode.Authenticated, TestServer.Identity, TestServer.Passphrase, 32768, CancellationToken.None).DefaultTimeout();

        await open.ClosedByServerAsync().DefaultTimeout();
        Assert.True(server.LoggerFactory.Contains(214)); // open-mode lifetime reached
        await Task.Delay(700);
        AcceptSession accept = await authenticated.RequestSessionAsync(new IPEndPoint(IPAddress.Loopback, 9999), 0, 64, TimeSpan.FromSeconds(1), 0, CancellationToken.None).DefaultTimeout();
        Assert.Equal(AcceptCode.Ok, accept.Accept);
    }

    [Fact]
    public async Task OwampPacketBudget_OneSourceGetsItsShare_FarFutureStartRefused_LegitMeasures()
    {
        // Defaults: 1 M packets per session, 8 M server-wide, a quarter (2 M) per source or identity.
        await using var server = new TestServer();
        await using HostileClient attacker = await HostileClient.OpenAsync(Attacker, server.OwampEndPoint, ControlProtocol.Owamp).DefaultTimeout();
        var request = new SessionRequest { ConfReceiver = 1, SenderPort = 9, PacketCount = 1_000_000, Timeout = NtpTimestamp.FromSeconds(1) };
        var answers = new List<AcceptCode>();
        for (int i = 0; i < 8; i++)
        {
            answers.Add((await attacker.RequestOwampAsync(request, s_slot).DefaultTimeout()).Accept);
        }
        Assert.Equal([AcceptCode.Ok, AcceptCode.Ok], answers.Take(2));
        Assert.All(answers.Skip(2), a => Assert.Equal(AcceptCode.TemporaryResourceLimitation, a));

        // A session starting a day ahead would hold the connection a day past SERVWAIT.
        NtpTimestamp tomorrow = NtpTimestamp.FromUnixNanoseconds(Ippm.Sessions.Time.SystemClock.Instance.Now().ToUnixNanoseconds() + 86_400_000_000_000L);
        AcceptSession late = await attacker.RequestOwampAsync(request with { PacketCount = 10, StartTime = tomorrow }, s_slot).DefaultTimeout();
        Assert.Equal(AcceptCode.PermanentResourceLimitation, late.Accept);

        OwampResult result = await OwampMeasurement.RunAsync(new OwpingOptions
        {
            Server = server.OwampEndPoint,
            AcceptableModes = (uint)SecurityMode.Authenticated,
            Identity = TestServer.Identity,
            Secret = TestServer.Passphrase,
            Count = 40,
            Schedule = [new(ScheduleSlotType.Exponential, NtpTimestamp.FromSeconds(0.005))],
            Timeout = TimeSpan.FromSeconds(1),
            StartDelay = TimeSpan.FromSeconds(0.6),
        }, CancellationToken.None).DefaultTimeout();
        OwampReport report = OwampReport.Create("legit", result);
        Assert.Equal(0, report.Outbound!.Lost);
        Assert.Equal(0, report.Inbound!.Lost);
        Assert.Equal(40, report.Outbound.Received);
    }

    [Fact]
    public async Task OwampRequest_TooManySlotsOrTooLongASchedule_Accept4_AndTheStreamStaysInStep()
    {
        await using var server = new TestServer(); // 1 024 slots, a schedule ending within a day
        await using HostileClient attacker = await HostileClient.OpenAsync(Attacker, server.OwampEndPoint, ControlProtocol.Owamp).DefaultTimeout();
        var request = new SessionRequest { ConfReceiver = 1, SenderPort = 9, PacketCount = 10, Timeout = NtpTimestamp.FromSeconds(1) };

        ScheduleSlot[] tooMany = [.. Enumerable.Repeat(s_slot[0], 5000)];
        Assert.Equal(AcceptCode.PermanentResourceLimitation, (await attacker.RequestOwampAsync(request, tooMany).DefaultTimeout()).Accept);
        // Two packets a year apart, and 1 000 exponential packets 100 s apart (a day and a bit): over the day.
        ScheduleSlot[] yearly = [new(ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(31_536_000))];
        Assert.Equal(AcceptCode.PermanentResourceLimitation, (await attacker.RequestOwampAsync(request with { PacketCount = 2 }, yearly).DefaultTimeout()).Accept);
        ScheduleSlot[] slow = [new(ScheduleSlotType.Exponential, NtpTimestamp.FromSeconds(100))];
        Assert.Equal(AcceptCode.PermanentResourceLimitation, (await attacker.RequestOwampAsync(request with { PacketCount = 1000 }, slow).DefaultTimeout()).Accept);
        // 800 of them end within the day; and 1 024 slots are within the limit. Both answered on the same connection,
        // so the 5 000 refused slots were read to the end (the stream is still in step).
        Assert.Equal(AcceptCode.Ok, (await attacker.RequestOwampAsync(request with { PacketCount = 800 }, slow).DefaultTimeout()).Accept);
        Assert.Equal(AcceptCode.Ok, (await attacker.RequestOwampAsync(request, [.. Enumerable.Repeat(s_slot[0], 1024)]).DefaultTimeout()).Accept);
    }

    [Fact]
    public async Task OwampFetch_RequestsStalledAfterTheirFirstBlock_HoldNoFetchSlot_AndAreClosed()
    {
        await using var server = new TestServer(o => o.SetupTimeout = TimeSpan.FromSeconds(2)); // 4 fetch slots
        var stallers = new List<HostileClient>();
        try
        {
            for (int i = 0; i < 6; i++)
            {
                HostileClient staller = await HostileClient.OpenAsync(Attacker, server.OwampEndPoint, ControlProtocol.Owamp).DefaultTimeout();
                stallers.Add(staller);
                byte[] firstBlock = new byte[16];
                firstBlock[0] = (byte)CommandNumber.FetchSession;
                await staller.Tcp.GetStream().WriteAsync(firstBlock);
            }
            await Task.Delay(300); // the blocks are read before the legitimate fetch arrives

            // A fetch of a session the server does not hold: refused at once, not after the stallers' 10-minute fetch deadline.
            await using OwampControlClient legit = await OwampControlClient.ConnectAsync(
                server.OwampEndPoint, (uint)SecurityMode.Authenticated, TestServer.Identity, TestServer.Passphrase, 32768, CancellationToken.None).DefaultTimeout();
            Assert.Null(await legit.FetchAsync(new SessionId(0x7f000001_00000000, 99), 0, uint.MaxValue, 10, CancellationToken.None).DefaultTimeout());
            foreach (HostileClient staller in stallers)
            {
                await staller.ClosedByServerAsync().DefaultTimeout();
            }
        }
        finally
        {
            foreach (HostileClient staller in stallers)
            {
                await staller.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task OwampRequest_TestSocketCannotConnect_Accept2_AndTheSharesAreGivenBack()
    {
        // Two sessions per source; a broadcast peer makes the test socket's connect fail (EACCES without SO_BROADCAST).
        await using var server = new TestServer(o =>
        {
            o.AllowThirdPartyTestAddresses = true;
            o.MaxSessionsPerSource = 2;
        });
        await using HostileClient attacker = await HostileClient.OpenAsync(Attacker, server.OwampEndPoint, ControlProtocol.Owamp).DefaultTimeout();
        var broadcast = new SessionRequest { ConfReceiver = 1, SenderPort = 9, SenderAddress = IPAddress.Broadcast, PacketCount = 10, Timeout = NtpTimestamp.FromSeconds(1) };
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(AcceptCode.InternalError, (await attacker.RequestOwampAsync(broadcast, s_slot).DefaultTimeout()).Accept);
        }
        var ordinary = broadcast with { SenderAddress = IPAddress.Parse(Attacker) };
        Assert.Equal(AcceptCode.Ok, (await attacker.RequestOwampAsync(ordinary, s_slot).DefaultTimeout()).Accept);
        Assert.Equal(AcceptCode.Ok, (await attacker.RequestOwampAsync(ordinary, s_slot).DefaultTimeout()).Accept);
        Assert.Equal(AcceptCode.TemporaryResourceLimitation, (await attacker.RequestOwampAsync(ordinary, s_slot).DefaultTimeout()).Accept);
    }

    [Fact]
    public async Task OwampPacketShare_KeyedByIdentityWhenAuthenticated_ByAddressWhenOpen()
    {
        await using var server = new TestServer(); // 2 M packets per source address or identity
        var request = new SessionRequest { ConfReceiver = 1, SenderPort = 9, SenderAddress = IPAddress.Loopback, PacketCount = 1_000_000, Timeout = NtpTimestamp.FromSeconds(1) };
        await using OwampControlClient first = await OwampControlClient.ConnectAsync(
            server.OwampEndPoint, (uint)SecurityMode.Authenticated, TestServer.Identity, TestServer.Passphrase, 32768, CancellationToken.None).DefaultTimeout();
        await using OwampControlClient second = await OwampControlClient.ConnectAsync(
            server.OwampEndPoint, (uint)SecurityMode.Encrypted, TestServer.Identity, TestServer.Passphrase, 32768, CancellationToken.None).DefaultTimeout();
        await using OwampControlClient open = await OwampControlClient.ConnectAsync(
            server.OwampEndPoint, (uint)SecurityMode.Open, null, null, 32768, CancellationToken.None).DefaultTimeout();

        Assert.Equal(AcceptCode.Ok, (await first.RequestSessionAsync(request, s_slot, CancellationToken.None).DefaultTimeout()).Accept);
        Assert.Equal(AcceptCode.Ok, (await first.RequestSessionAsync(request, s_slot, CancellationToken.None).DefaultTimeout()).Accept);
        // The same identity on another connection shares its allowance...
        Assert.Equal(AcceptCode.TemporaryResourceLimitation, (await second.RequestSessionAsync(request, s_slot, CancellationToken.None).DefaultTimeout()).Accept);
        // ...while an anonymous connection from the same address draws on the address's own share.
        Assert.Equal(AcceptCode.Ok, (await open.RequestSessionAsync(request, s_slot, CancellationToken.None).DefaultTimeout()).Accept);
    }

    [Fact]
    public async Task TestPortsOfServices_NeverBound_DefaultRangeUsed()
    {
        await using var server = new TestServer();
        await using HostileClient attacker = await HostileClient.OpenAsync(Attacker, server.TwampEndPoint, ControlProtocol.Twamp).DefaultTimeout();
        foreach (ushort port in new ushort[] { 4500, 5353, 1812 })
        {
            AcceptSession accept = await attacker.RequestTwampAsync(new SessionRequest { SenderPort = 9999, ReceiverPort = port, Timeout = NtpTimestamp.FromSeconds(1) }).DefaultTimeout();
            Assert.Equal(AcceptCode.Ok, accept.Accept);
            Assert.InRange(accept.Port, 61000, 65535);
        }
        await AssertLegitTwampLosesNothing(server.TwampEndPoint);
    }
}
