using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace SharpLens.Tests.Support;

/// <summary>
/// Runs the built <c>sharplens.dll</c> (copied next to the tests) as a child process, as a user would:
/// exit code, stdout and stderr as seen from outside.
/// </summary>
public sealed class CliProcess : IDisposable
{
    readonly Process _process;
    readonly StringBuilder _out = new(), _err = new();
    readonly object _gate = new();

    public static string Dll => Path.Combine(AppContext.BaseDirectory, "sharplens.dll");

    CliProcess(IEnumerable<string> args, IDictionary<string, string>? env, string? workingDir)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDir ?? Fixtures.TempDir("cwd"),
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["NO_COLOR"] = "1";
        psi.Environment.Remove("SHARPLENS_MEMORY_LIMIT");
        psi.Environment.Remove("SHARPLENS_DEBUG");
        psi.Environment.Remove("SHARPLENS_SIMD");
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        _process = new Process { StartInfo = psi };
        _process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_gate) _out.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_gate) _err.AppendLine(e.Data); };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Starts <c>dotnet sharplens.dll ARGS</c> without waiting.</summary>
    public static CliProcess Start(IEnumerable<string> args, IDictionary<string, string>? env = null, string? workingDir = null) => new(args, env, workingDir);

    /// <summary>Runs <c>dotnet sharplens.dll ARGS</c> to the end (at most a minute).</summary>
    public static (int Code, string Out, string Err) Run(params string[] args) => Run(args, null);

    public static (int Code, string Out, string Err) Run(IEnumerable<string> args, IDictionary<string, string>? env, string? workingDir = null)
    {
        using var p = Start(args, env, workingDir);
        return p.Wait(TimeSpan.FromMinutes(3));
    }

    public int Id => _process.Id;

    public string Stdout { get { lock (_gate) return _out.ToString(); } }

    /// <summary>Waits until stdout contains <paramref name="text"/>; false when the process ended or time ran out first.</summary>
    public bool WaitForOutput(string text, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (Stdout.Contains(text, StringComparison.Ordinal)) return true;
            if (_process.HasExited) return false;
            Thread.Sleep(20);
        }
        return false;
    }

    /// <summary>Waits for the exit; kills the process when it overruns.</summary>
    public (int Code, string Out, string Err) Wait(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"sharplens did not finish within {timeout}: {Stdout}");
        }
        _process.WaitForExit(); // drains the output events
        lock (_gate) return (_process.ExitCode, _out.ToString(), _err.ToString());
    }

    /// <summary>Whether the child ignores SIGINT (inherited SIG_IGN, e.g. from a shell without job control).</summary>
    public bool IgnoresSigint()
    {
        try
        {
            var line = File.ReadLines($"/proc/{Id}/status").FirstOrDefault(l => l.StartsWith("SigIgn:"));
            return line != null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & 0x2) != 0;
        }
        catch (IOException) { return false; }
    }

    /// <summary>Sends SIGINT, as Ctrl-C in a terminal does.</summary>
    public void Interrupt()
    {
        if (kill(Id, 2) != 0) throw new InvalidOperationException($"kill({Id}, SIGINT) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Sends SIGTERM, as <c>kill</c>, systemd or <c>docker stop</c> do.</summary>
    public void Terminate() => Signal(15);

    /// <summary>Sends SIGKILL: the process ends where it stands, nothing of it runs.</summary>
    public void KillHard()
    {
        Signal(9);
        _process.WaitForExit();
    }

    void Signal(int sig)
    {
        if (kill(Id, sig) != 0) throw new InvalidOperationException($"kill({Id}, {sig}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Stderr so far.</summary>
    public string Stderr { get { lock (_gate) return _err.ToString(); } }

    /// <summary>Waits until <paramref name="done"/> holds; false when the process ended or time ran out first.</summary>
    public bool WaitUntil(Func<bool> done, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (done()) return true;
            if (_process.HasExited) return false;
            Thread.Sleep(20);
        }
        return false;
    }

    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int sig);

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }
}
