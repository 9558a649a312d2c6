using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Ippm.Ikev2.Exchanges;
using Ippm.Sessions.Control;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.Twamp;
using Ippm.Wire;
using Ippm.Wire.Control;
using Microsoft.Extensions.Logging;

namespace Ippm.Agent;

/// <summary>
/// Runs one configured test for ever: a session every <see cref="AgentTest.Every"/> (or back to back), each one
/// archived and added to the metrics when it ends. A failed attempt is archived with its outcome and retried after a
/// back-off that doubles from the agent's <c>retry-initial</c> up to <c>retry-max</c>; the first success returns to the
/// schedule. Nothing a target does leaves this loop: every exception of an attempt becomes an outcome. Stopping (agent
/// stop, test removed or changed) interrupts a running session, which then reports what it measured.
/// </summary>
internal sealed partial class TestRunner
{
    private readonly AgentArchive _archive;
    private readonly Func<(TimeSpan Initial, TimeSpan Max)> _retry;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public TestRunner(AgentTest test, AgentArchive archive, Func<(TimeSpan Initial, TimeSpan Max)> retry, ILogger logger, TimeProvider time)
    {
        Test = test;
        _archive = archive;
        _retry = retry;
        _logger = logger;
        _time = time;
    }

    public AgentTest Test { get; }

    /// <summary>Attempts finished so far (archived lines).</summary>
    public long Attempts => Interlocked.Read(ref _attempts);

    private long _attempts;

    public void Start() => _loop = Task.Run(() => RunAsync(_stop.Token), CancellationToken.None);

    /// <summary>Interrupts the running session (archived as interrupted) and waits for the loop to end; zeroes the key.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
        _stop.Dispose();
        CryptographicOperations.ZeroMemory(Test.Secret);
        CryptographicOperations.ZeroMemory(Test.IkePsk);
    }

    private async Task RunAsync(CancellationToken stop)
    {
        int failures = 0;
        DateTimeOffset next = _time.GetUtcNow();
        while (!stop.IsCancellationRequested)
        {
            TimeSpan wait = next - _time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(wait, _time, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
            DateTimeOffset start = _time.GetUtcNow();
            SessionOutcome outcome = await AttemptAsync(start, stop).ConfigureAwait(false);
            Interlocked.Increment(ref _attempts);
            DateTimeOffset now = _time.GetUtcNow();
            if (outcome is SessionOutcome.Ok or SessionOutcome.Interrupted)
            {
                failures = 0;
                next = Test.BackToBack ? now : start + Test.Every;
                if (next < now)
                {
                    next = now;
                }
            }
            else
            {
                failures++;
                (TimeSpan initial, TimeSpan max) = _retry();
                double factor = Math.Pow(2, Math.Min(failures - 1, 30));
                TimeSpan backOff = TimeSpan.FromTicks((long)Math.Min(initial.Ticks * factor, max.Ticks));
                next = now + backOff;
                Log.Failed(_logger, Test.Name, outcome.Label(), failures, backOff.TotalSeconds);
            }
        }
    }

    /// <summary>One session; archives it and returns its outcome. Never throws.</summary>
    private async Task<SessionOutcome> AttemptAsync(DateTimeOffset start, CancellationToken stop)
    {
        SessionOutcome outcome;
        string? error = null;
        Action<System.Text.Json.Utf8JsonWriter>? report = null;
        IEnumerable<byte[]>? packets = null;
        try
        {
            IPEndPoint server = await ResolveAsync(stop).ConfigureAwait(false);
            await using IkeKeying? ike = Test.IkePsk is null ? null : await IkeKeying.EstablishAsync(Test, server.Address, _logger, stop).ConfigureAwait(false);
            if (Test.Protocol == TestProtocol.Twamp)
            {
                TwampSessionResult result = await TwampMeasurement.RunAsync(TwampOptions(server) with { Ike = ike?.Secret }, stop).ConfigureAwait(false);
                TwampReport r = TwampReport.Create(Test.Target, result);
                report = r.WriteJson;
                packets = _archive.WritesPackets ? SessionRecord.TwampPackets(Test, result) : null;
                (outcome, error) = Finished(result.Interrupted, result.EndedByServer);
                AgentMetrics.Twamp(Test, r);
            }
            else
            {
                OwampResult result = await OwampMeasurement.RunAsync(OwampOptions(server) with { Ike = ike?.Secret }, stop, _logger).ConfigureAwait(false);
                OwampReport r = OwampReport.Create(Test.Target, result);
                report = r.WriteJson;
                packets = _archive.WritesPackets ? SessionRecord.OwampPackets(Test, result) : null;
                (outcome, error) = Finished(result.Interrupted, result.EndedByServer);
                AgentMetrics.Owamp(Test, r);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            (outcome, error) = (SessionOutcome.Interrupted, "stopped before the session started (agent stopping or test removed)");
        }
        catch (OperationCanceledException)
        {
            (outcome, error) = (SessionOutcome.Timeout, $"{Test.Target} accepted the connection but did not answer in time");
        }
        catch (IkePeerIdentityMismatchException e)
        {
            (outcome, error) = (SessionOutcome.Refused, $"IKEv2 with {Test.Host}:{Test.IkePort}: wrong peer: the responder authenticated as '{e.Actual}', but '{e.Expected}' was expected; no O/TWAMP key was derived");
        }
        catch (IkeRefusedException e)
        {
            (outcome, error) = (SessionOutcome.Refused, $"IKEv2 with {Test.Host}:{Test.IkePort} refused: {e.Message}");
        }
        catch (IkeTimeoutException e)
        {
            (outcome, error) = (SessionOutcome.Unreachable, $"IKEv2 responder {Test.Host}:{Test.IkePort} did not answer: {e.Message}");
        }
        catch (SocketException e)
        {
            (outcome, error) = (SessionOutcome.Unreachable, $"cannot reach {Test.Target}: {e.Message}");
        }
        catch (ControlProtocolException e) when (IsRefusal(e))
        {
            (outcome, error) = (SessionOutcome.Refused, e.Message);
        }
        catch (ControlProtocolException e) when (e.Accept is { } accept)
        {
            (outcome, error) = (SessionOutcome.ProtocolError, $"the server answered Accept={(byte)accept}, which no O/TWAMP server sends: {e.Message}");
        }
        catch (ControlProtocolException e)
        {
            (outcome, error) = (SessionOutcome.ProtocolError, e.InnerException is { } inner ? $"{e.Message} ({inner.Message})" : e.Message);
        }
        catch (IOException e)
        {
            (outcome, error) = (SessionOutcome.ProtocolError, $"the control connection to {Test.Target} broke: {e.Message}");
        }
        catch (Exception e)
        {
            // A runner never dies: whatever this was, it is one failed attempt.
            (outcome, error) = (SessionOutcome.Error, $"{e.GetType().Name}: {e.Message}");
        }
        DateTimeOffset end = _time.GetUtcNow();
        try
        {
            _archive.Summary(SessionRecord.Summary(Test, start, end, outcome, error, report));
            if (packets is not null)
            {
                _archive.Packets(packets);
            }
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
        {
            Log.RecordFailed(_logger, Test.Name, e.Message);
        }
        AgentMetrics.Outcome(Test, outcome);
        return outcome;
    }

    /// <summary>
    /// A refusal the protocol defines: an Accept value of RFC 4656 §3.3 / RFC 7717 other than 0, Server-Greeting Modes = 0,
    /// no common mode, a PBKDF2 count this client will not spend. Any other Accept octet is garbage, not a refusal.
    /// </summary>
    private static bool IsRefusal(ControlProtocolException e) =>
        e.Accept is { } accept ? accept != AcceptCode.Ok && Enum.IsDefined(accept)
        : e.Message.Contains("refus", StringComparison.OrdinalIgnoreCase);

    private static (SessionOutcome, string?) Finished(bool interrupted, bool endedByServer) =>
        !interrupted ? (SessionOutcome.Ok, null)
        : endedByServer ? (SessionOutcome.Interrupted, "the server ended the session (Stop-Sessions or a closed connection: did it restart?)")
        : (SessionOutcome.Interrupted, "the agent stopped the session (stopping, or the test was removed or changed)");

    private async Task<IPEndPoint> ResolveAsync(CancellationToken stop)
    {
        if (IPAddress.TryParse(Test.Host, out IPAddress? literal))
        {
            return new IPEndPoint(literal, Test.Port);
        }
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stop);
        deadline.CancelAfter(Test.ConnectTimeout);
        IPAddress[] addresses = await Dns.GetHostAddressesAsync(Test.Host, deadline.Token).ConfigureAwait(false);
        IPAddress chosen = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault()
            ?? throw new SocketException((int)SocketError.HostNotFound);
        return new IPEndPoint(chosen, Test.Port);
    }

    private TwpingOptions TwampOptions(IPEndPoint server) => new()
    {
        Server = server,
        AcceptableModes = (uint)Test.Mode,
        Identity = Test.Identity,
        Secret = Test.Secret,
        Count = Test.Count,
        Schedule = Test.Interval,
        PaddingLength = Test.Padding,
        Dscp = Test.Dscp,
        Timeout = Test.Timeout,
        ConnectTimeout = Test.ConnectTimeout,
        ReplyTimeout = Test.ConnectTimeout + Test.Timeout,
    };

    private OwpingOptions OwampOptions(IPEndPoint server) => new()
    {
        Server = server,
        AcceptableModes = (uint)Test.Mode,
        Identity = Test.Identity,
        Secret = Test.Secret,
        Count = Test.Count,
        Schedule = [new ScheduleSlot(Test.Interval.Exponential ? ScheduleSlotType.Exponential : ScheduleSlotType.Fixed, NtpTimestamp.FromSeconds(Test.Interval.IntervalSeconds))],
        PaddingLength = (uint)(Test.Padding ?? 0),
        Dscp = Test.Dscp,
        Timeout = Test.Timeout,
        Outbound = Test.Direction != OwampDirection.From,
        Inbound = Test.Direction != OwampDirection.To,
        ConnectTimeout = Test.ConnectTimeout,
        ReplyTimeout = Test.ConnectTimeout + Test.Timeout,
    };

    private static partial class Log
    {
        [LoggerMessage(EventId = 1310, Level = LogLevel.Warning, Message = "test {Test}: attempt failed ({Outcome}), {Failures} in a row; next attempt in {BackOff:0.###} s")]
        public static partial void Failed(ILogger logger, string test, string outcome, int failures, double backOff);

        [LoggerMessage(EventId = 1311, Level = LogLevel.Error, Message = "test {Test}: cannot build the archive line: {Reason}")]
        public static partial void RecordFailed(ILogger logger, string test, string reason);
    }
}
