namespace Ippm.Ikev2.Fairness;

/// <summary>
/// A bounded work queue served round-robin by source: each source has its own small FIFO, sources with work wait
/// in a ring, and a fixed set of workers takes one item from the source at the head and puts the source back at
/// the tail. So a source that floods gets one turn per round like every other source, its excess is refused at
/// <see cref="TryEnqueue"/> (not queued), and the items of one source are never processed concurrently (the
/// same IKE SA is not handled by two workers at once).
/// </summary>
public sealed class FairWorkQueue<TSource, TItem> : IAsyncDisposable
    where TSource : notnull
{
    private readonly object _gate = new();
    private readonly Dictionary<TSource, Queue<TItem>> _queues = [];
    private readonly LinkedList<TSource> _ready = new();
    private readonly HashSet<TSource> _busy = [];
    private readonly SemaphoreSlim _available = new(0);
    private readonly Func<TItem, CancellationToken, ValueTask> _process;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _workers;
    private readonly int _perSource;
    private readonly int _total;
    private int _count;

    /// <param name="perSource">Items one source may have waiting.</param>
    /// <param name="total">Items all sources together may have waiting.</param>
    /// <param name="workers">Items processed at once (each from a different source).</param>
    public FairWorkQueue(int perSource, int total, int workers, Func<TItem, CancellationToken, ValueTask> process)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(perSource, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(total, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        _perSource = perSource;
        _total = total;
        _process = process;
        _workers = new Task[workers];
        for (int i = 0; i < workers; i++)
        {
            _workers[i] = Task.Run(() => WorkAsync(_stop.Token));
        }
    }

    /// <summary>Items waiting, all sources together.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Queues <paramref name="item"/>; false when its source's share or the whole queue is full.</summary>
    public bool TryEnqueue(TSource source, TItem item)
    {
        lock (_gate)
        {
            if (_count >= _total)
            {
                return false;
            }
            if (!_queues.TryGetValue(source, out Queue<TItem>? queue))
            {
                queue = new Queue<TItem>();
                _queues[source] = queue;
            }
            if (queue.Count >= _perSource)
            {
                return false;
            }
            queue.Enqueue(item);
            _count++;
            if (queue.Count == 1 && !_busy.Contains(source))
            {
                _ready.AddLast(source);
                _available.Release();
            }
            return true;
        }
    }

    private async Task WorkAsync(CancellationToken ct)
    {
        while (true)
        {
            try
            {
                await _available.WaitAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            TSource source;
            TItem item;
            lock (_gate)
            {
                source = _ready.First!.Value;
                _ready.RemoveFirst();
                Queue<TItem> queue = _queues[source];
                item = queue.Dequeue();
                _count--;
                _busy.Add(source);
            }
            try
            {
                await _process(item, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            finally
            {
                lock (_gate)
                {
                    _busy.Remove(source);
                    Queue<TItem> queue = _queues[source];
                    if (queue.Count > 0)
                    {
                        _ready.AddLast(source);
                        _available.Release();
                    }
                    else
                    {
                        _queues.Remove(source);
                    }
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_workers).ConfigureAwait(false);
        _stop.Dispose();
        _available.Dispose();
    }
}
