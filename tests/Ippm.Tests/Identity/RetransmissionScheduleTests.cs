using System.Net;
using System.Net.Sockets;
using Ippm.Ikev2.Exchanges;
using Ippm.Tests.Fakes;
using Ippm.Tests.Loopback;

namespace Ippm.Tests.Identity;

/// <summary>
/// The documented schedule is what happens: resends after 0.5, 1, 2, … s and giving up when the budget is spent
/// (before, a 16 s budget became six tries whose waits added up to 31.5 s).
/// </summary>
public sealed class RetransmissionScheduleTests
{
    [Fact]
    public void Budget16_SendsAt0_0p5_1p5_3p5_7p5_15p5_AndNoMore()
    {
        RetransmitPolicy policy = RetransmitPolicy.WithinBudget(TimeSpan.FromSeconds(16));
        Assert.Equal(6, policy.Tries);
        Assert.Equal(TimeSpan.FromSeconds(16), policy.Budget);
        Assert.Equal(TimeSpan.FromMilliseconds(500), policy.Initial);
        Assert.Equal(policy, RetransmitPolicy.Default);
        Assert.Equal(3, RetransmitPolicy.WithinBudget(TimeSpan.FromSeconds(2)).Tries);   // 0, 0.5, 1.5
        Assert.Equal(1, RetransmitPolicy.WithinBudget(TimeSpan.FromSeconds(0.5)).Tries);
    }

    [Fact]
    public async Task SilentResponder_ResendsTheSameOctetsOnTheDocumentedSchedule_AndGivesUpWhenTheBudgetIsSpent()
    {
        // The schedule runs on a manual clock: the test sees each send arrive on a real socket and each wait the
        // initiator starts, then moves time by exactly that wait. What is asserted is the schedule itself (sends at
        // 0, 0.5 and 1.5 s, giving up at 2 s), exactly, however busy the machine is.
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var time = new ManualTimeProvider();
        Task<IkeInitiatorSession> connecting = IkeInitiator.ConnectAsync(
            (IPEndPoint)silent.LocalEndPoint!,
            new IkeInitiatorOptions
            {
                Credentials = new IkeCredentials { PreSharedKey = "x"u8.ToArray() },
                Retransmit = RetransmitPolicy.WithinBudget(TimeSpan.FromSeconds(2)) with { Time = time },
            });

        var sentAt = new List<TimeSpan>();
        var waits = new List<TimeSpan>();
        var datagrams = new List<byte[]>();
        byte[] buffer = new byte[4096];
        for (int send = 0; send < 3; send++)
        {
            int length = await silent.ReceiveAsync(buffer, SocketFlags.None).DefaultTimeout();
            datagrams.Add(buffer[..length]);
            sentAt.Add(time.Elapsed);
            TimeSpan wait = await time.NextTimerAsync();
            waits.Add(wait);
            time.Advance(wait);
        }
        var e = await Assert.ThrowsAsync<IkeTimeoutException>(() => connecting.DefaultTimeout());

        Assert.Equal([TimeSpan.Zero, TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(1.5)], sentAt);
        // 0.5 s, 1 s, then what is left of the budget (the doubled 2 s wait is cut to 0.5 s).
        Assert.Equal([TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(0.5)], waits);
        Assert.All(datagrams, d => Assert.Equal(datagrams[0], d));
        Assert.Contains("after 3 tries in 2.0 s", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, silent.Available);
    }
}
