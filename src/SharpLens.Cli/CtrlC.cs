namespace SharpLens.Cli;

/// <summary>
/// Ctrl-C for one command. The first press cancels <see cref="Token"/>: the work stops at its next check and says which
/// phase it was in. Work that has not stopped <see cref="Grace"/> later (a computation that never checks the token, such
/// as a regex or a large parse) is ended with exit code 130, and so is any work at a second press: Ctrl-C always works.
/// </summary>
internal sealed class CtrlC : IDisposable
{
    /// <summary>How long cancelled work may take to stop by itself (a study stops within about a second).</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(3);

    readonly CancellationTokenSource cts = new();
    int state; // Running, Finished or Forcing
    const int Running = 0, Finished = 1, Forcing = 2;

    public CtrlC() => Console.CancelKeyPress += OnCancel;

    public CancellationToken Token => cts.Token;
    public bool Pressed => cts.IsCancellationRequested;

    void OnCancel(object? sender, ConsoleCancelEventArgs e)
    {
        e.Cancel = true; // the process stays up: the work gets its chance to stop cleanly
        if (cts.IsCancellationRequested)
        {
            Force("a second Ctrl-C");
            return;
        }
        new Thread(() =>
        {
            Thread.Sleep(Grace);
            Force($"it did not stop within {Grace.TotalSeconds:0} s");
        }) { IsBackground = true, Name = "Ctrl-C grace" }.Start();
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
        Console.Error.WriteLine($"interrupted: stopped by Ctrl-C ({why}, so the process was ended); each output file is complete or absent");
        Console.Error.Flush();
        Environment.Exit((int)ExitCode.Interrupted);
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancel;
        cts.Dispose();
    }
}
