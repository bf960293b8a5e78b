using System.Runtime.InteropServices;

namespace SharpLens.Cli;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM for one command. The first signal cancels <see cref="Token"/>: the work stops at its next
/// check and says which phase it was in. Work that has not stopped <see cref="Grace"/> later (a computation that never
/// checks the token, such as a regex or a large parse) is ended with the signal's exit code (130 or 143), and so is any
/// work at a second signal: Ctrl-C always works. SIGTERM (kill, systemd, docker stop) takes the same way out as Ctrl-C
/// instead of ending the process where it stands, so temporary files are removed and one line says what happened.
/// </summary>
internal sealed class CtrlC : IDisposable
{
    /// <summary>How long cancelled work may take to stop by itself (a study stops within about a second).</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(3);

    readonly CancellationTokenSource cts = new();
    readonly PosixSignalRegistration? onTerm;
    volatile string? stoppedBy;
    int state; // Running, Finished or Forcing
    const int Running = 0, Finished = 1, Forcing = 2;

    public CtrlC()
    {
        Console.CancelKeyPress += OnCancel;
        try { onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; Signal("SIGTERM"); }); }
        catch (PlatformNotSupportedException) { }
    }

    public CancellationToken Token => cts.Token;
    public bool Pressed => cts.IsCancellationRequested;

    /// <summary>What stopped the command: "Ctrl-C" or "SIGTERM" (the first signal; "Ctrl-C" before any).</summary>
    public string StoppedBy => stoppedBy ?? "Ctrl-C";

    /// <summary>The exit code for the signal that stopped the command: 143 for SIGTERM, else 130.</summary>
    public ExitCode Code => stoppedBy == "SIGTERM" ? ExitCode.Terminated : ExitCode.Interrupted;

    void OnCancel(object? sender, ConsoleCancelEventArgs e)
    {
        e.Cancel = true; // the process stays up: the work gets its chance to stop cleanly
        Signal("Ctrl-C");
    }

    void Signal(string by)
    {
        if (cts.IsCancellationRequested)
        {
            Force($"a second {by}");
            return;
        }
        stoppedBy ??= by;
        new Thread(() =>
        {
            Thread.Sleep(Grace);
            Force($"it did not stop within {Grace.TotalSeconds:0} s");
        }) { IsBackground = true, Name = "stop grace" }.Start();
        try { cts.Cancel(); }
        catch (AggregateException) { } // a cancellation callback failed: the work sees the token anyway
    }

    /// <summary>Called when the work has returned or thrown, before anything is printed: from then on nothing is forced.
    /// If a forced stop has already begun, waits for it to end the process (so only one message is printed).</summary>
    public void WorkEnded()
    {
        if (Interlocked.CompareExchange(ref state, Finished, Running) == Forcing) Thread.Sleep(Timeout.Infinite);
    }

    void Force(string why)
    {
        if (Interlocked.CompareExchange(ref state, Forcing, Running) != Running) return;
        DownloadProgressBar.EndOpenLine();
        Console.Error.WriteLine($"interrupted: stopped by {StoppedBy} ({why}, so the process was ended); each output file is complete or absent");
        Console.Error.Flush();
        Environment.Exit((int)Code);
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancel;
        onTerm?.Dispose();
        cts.Dispose();
    }
}
