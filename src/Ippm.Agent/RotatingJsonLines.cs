using System.Text;

namespace Ippm.Agent;

/// <summary>
/// An append-only JSON Lines file with bounded size on disk: the current file is <c>PATH</c>; before a line would make
/// it larger than <see cref="ArchiveSettings.MaxBytes"/>, or once its first line is older than
/// <see cref="ArchiveSettings.MaxAge"/>, it is renamed <c>PATH.1</c> (older ones shift to <c>PATH.2</c> … and the one
/// beyond <see cref="ArchiveSettings.Keep"/> is deleted), as logrotate does. Each line is written with one write and
/// flushed, so a reader (<c>ippm plot</c>, <c>tail -f</c>) never sees half a line except while it is being written, and a
/// crash loses at most the line in progress. Thread-safe.
/// </summary>
public sealed class RotatingJsonLines : IDisposable
{
    private readonly object _gate = new();
    private readonly string _path;
    private readonly long _maxBytes;
    private readonly TimeSpan _maxAge;
    private readonly int _keep;
    private readonly TimeProvider _time;
    private FileStream? _stream;
    private DateTimeOffset _opened;

    public RotatingJsonLines(string path, long maxBytes, TimeSpan maxAge, int keep, TimeProvider? time = null)
    {
        _path = path;
        _maxBytes = maxBytes;
        _maxAge = maxAge;
        _keep = keep;
        _time = time ?? TimeProvider.System;
    }

    public string Path => _path;

    /// <summary>Rotations done since this writer was created.</summary>
    public int Rotations { get; private set; }

    /// <summary>Appends one line (the newline is added here); <paramref name="json"/> must hold no newline.</summary>
    /// <exception cref="IOException">The file cannot be written; the caller logs it and measuring goes on.</exception>
    public void Append(ReadOnlySpan<byte> json)
    {
        lock (_gate)
        {
            FileStream stream = Open();
            DateTimeOffset now = _time.GetUtcNow();
            if (stream.Length > 0 && (stream.Length + json.Length + 1 > _maxBytes || now - _opened >= _maxAge))
            {
                Rotate();
                stream = Open();
            }
            byte[] line = new byte[json.Length + 1];
            json.CopyTo(line);
            line[^1] = (byte)'\n';
            stream.Write(line);
            stream.Flush();
        }
    }

    public void Append(string json) => Append(Encoding.UTF8.GetBytes(json));

    private FileStream Open()
    {
        if (_stream is not null)
        {
            return _stream;
        }
        string? directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(_path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }
        var options = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.Read | FileShare.Delete };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;
        }
        _stream = new FileStream(_path, options);
        // An existing file's age counts from when it was created (its first line), not from this start.
        _opened = _stream.Length > 0 ? new DateTimeOffset(File.GetCreationTimeUtc(_path), TimeSpan.Zero) : _time.GetUtcNow();
        if (_opened > _time.GetUtcNow() || _opened.Year < 2000)
        {
            _opened = _time.GetUtcNow();
        }
        return _stream;
    }

    private void Rotate()
    {
        _stream?.Dispose();
        _stream = null;
        string Numbered(int n) => $"{_path}.{n}";
        File.Delete(Numbered(_keep));
        for (int n = _keep - 1; n >= 1; n--)
        {
            if (File.Exists(Numbered(n)))
            {
                File.Move(Numbered(n), Numbered(n + 1), overwrite: true);
            }
        }
        File.Move(_path, Numbered(1), overwrite: true);
        Rotations++;
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stream?.Dispose();
            _stream = null;
        }
    }
}
