using SharpLens.Hub;
using SharpLens.IO;

namespace SharpLens.Cli;

/// <summary>One progress line per downloaded file on stderr (stdout stays clean for --json).</summary>
internal sealed class DownloadProgressBar : IProgress<DownloadProgress>
{
    string? _file;
    DateTime _last;
    static bool _lineOpen;

    /// <summary>Ends a progress line left half-drawn by an interrupted download, so the next message starts on its own line.</summary>
    public static void EndOpenLine()
    {
        if (!_lineOpen) return;
        _lineOpen = false;
        Console.Error.WriteLine();
    }

    public static IProgress<DownloadProgress> Create() => new DownloadProgressBar();

    public void Report(DownloadProgress p)
    {
        bool done = p.Total is { } t && p.Received >= t;
        string file = UntrustedText.Escape(p.File); // a shard name comes from the repository's index file
        if (p.File == _file && !done && DateTime.UtcNow - _last < TimeSpan.FromMilliseconds(200)) return;
        _last = DateTime.UtcNow;
        _file = p.File;
        string size = p.Total is { } total ? $"{Mb(p.Received)}/{Mb(total)} MB ({100.0 * p.Received / Math.Max(total, 1):0}%)" : $"{Mb(p.Received)} MB";
        int filled = p.Total is { } tt && tt > 0 ? (int)Math.Clamp(30 * p.Received / tt, 0, 30) : 0;
        string bar = "[" + new string('#', filled) + new string('.', 30 - filled) + "]";
        if (Console.IsErrorRedirected)
        {
            if (done) Console.Error.WriteLine($"downloaded {file} {size}");
            return;
        }
        Console.Error.Write($"\r{file,-36} {bar} {size}   ");
        _lineOpen = !done;
        if (done) Console.Error.WriteLine();
    }

    static string Mb(long b) => (b / 1e6).ToString("0.0");
}
