using System.Collections.Concurrent;
using System.Net;
using Ippm.Security;
using Ippm.Sessions.Server;
using Microsoft.Extensions.Logging;

namespace Ippm.Tests.Loopback;

/// <summary>An in-process ippm server on 127.0.0.1:0 that records its log lines for assertions.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    public const string Identity = "alice";
    public static readonly byte[] Passphrase = "testpass123"u8.ToArray();

    private readonly KeyFile _keys;

    public TestServer(Action<ServerOptions>? configure = null)
    {
        _keys = KeyFile.Parse(KeyFile.FormatLine(Identity, Passphrase));
        Options = new ServerOptions { TwampListen = new IPEndPoint(IPAddress.Loopback, 0), OwampListen = new IPEndPoint(IPAddress.Loopback, 0), Keys = _keys };
        configure?.Invoke(Options);
        LoggerFactory = new RecordingLoggerFactory();
        Server = new IppmServer(Options, LoggerFactory);
        Server.Start();
    }

    public ServerOptions Options { get; }
    public IppmServer Server { get; }
    public RecordingLoggerFactory LoggerFactory { get; }
    public IPEndPoint TwampEndPoint => Server.TwampEndPoint!;
    public IPEndPoint OwampEndPoint => Server.OwampEndPoint!;

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        _keys.Dispose();
    }
}

internal sealed class RecordingLoggerFactory : ILoggerFactory
{
    public ConcurrentQueue<(LogLevel Level, int EventId, string Message)> Entries { get; } = new();

    public bool Contains(int eventId) => Entries.Any(e => e.EventId == eventId);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public ILogger CreateLogger(string categoryName) => new RecordingLogger(this);

    public void Dispose()
    {
    }

    private sealed class RecordingLogger(RecordingLoggerFactory owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Entries.Enqueue((logLevel, eventId.Id, formatter(state, exception)));
    }
}

/// <summary>A stream that reads and writes at most one octet at a time: every message is split at every byte, both ways.</summary>
internal sealed class TrickleStream(Stream inner) : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush() => inner.Flush();

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, 1));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        inner.ReadAsync(buffer[..Math.Min(buffer.Length, 1)], cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

    /// <summary>Writes one octet at a time, flushing each, so the peer sees every message split at every octet.</summary>
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        for (int i = 0; i < buffer.Length; i++)
        {
            await inner.WriteAsync(buffer.Slice(i, 1), cancellationToken);
            await inner.FlushAsync(cancellationToken);
        }
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }
        base.Dispose(disposing);
    }
}

internal static class TaskTimeouts
{
    public static readonly TimeSpan Default = TimeSpan.FromSeconds(30);

    public static Task<T> DefaultTimeout<T>(this Task<T> task) => task.WaitAsync(Default);

    public static Task DefaultTimeout(this Task task) => task.WaitAsync(Default);

    /// <summary>Waits for a condition (an event the code under test makes true), never a fixed sleep; fails after <see cref="Default"/>.</summary>
    public static async Task UntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(Default);
        while (!condition())
        {
            await Task.Delay(10, timeout.Token);
        }
    }
}
