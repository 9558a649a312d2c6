using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Ippm.Ikev2.Exchanges;

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
    public async Task SilentResponder_GivesUpWhenTheBudgetIsSpent_AfterTheDocumentedResends()
    {
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var arrivals = new List<TimeSpan>();
        long started = Stopwatch.GetTimestamp();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Task listening = Task.Run(async () =>
        {
            byte[] buffer = new byte[4096];
            try
            {
                while (true)
                {
                    await silent.ReceiveAsync(buffer, stop.Token);
                    lock (arrivals)
                    {
                        arrivals.Add(Stopwatch.GetElapsedTime(started));
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        });

        long before = Stopwatch.GetTimestamp();
        var e = await Assert.ThrowsAsync<IkeTimeoutException>(() => IkeInitiator.ConnectAsync(
            (IPEndPoint)silent.LocalEndPoint!,
            new IkeInitiatorOptions { Credentials = new IkeCredentials { PreSharedKey = "x"u8.ToArray() }, Retransmit = RetransmitPolicy.WithinBudget(TimeSpan.FromSeconds(2)) }));
        TimeSpan elapsed = Stopwatch.GetElapsedTime(before);
        await Task.Delay(200);
        await stop.CancelAsync();
        await listening;

        Assert.InRange(elapsed, TimeSpan.FromSeconds(1.95), TimeSpan.FromSeconds(3.5));
        Assert.Contains("after 3 tries", e.Message, StringComparison.Ordinal);
        lock (arrivals)
        {
            Assert.Equal(3, arrivals.Count);
            // Gaps of 0.5 s then 1 s (lower bounds are exact: the timer never fires early; upper bounds allow a busy machine).
            Assert.InRange(arrivals[1] - arrivals[0], TimeSpan.FromSeconds(0.45), TimeSpan.FromSeconds(1.2));
            Assert.InRange(arrivals[2] - arrivals[1], TimeSpan.FromSeconds(0.95), TimeSpan.FromSeconds(1.7));
        }
    }
}
