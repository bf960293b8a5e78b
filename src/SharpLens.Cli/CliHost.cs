using System.CommandLine;
using SharpLens.Hub;
using SharpLens.IO;
using SharpLens.Kernels;

namespace SharpLens.Cli;

/// <summary>
/// What every command shares: parse errors become exit code 2, a <see cref="SharpLensException"/> becomes one line on
/// stderr and its category's exit code, Ctrl-C cancels the running work, SHARPLENS_SIMD caps the kernels' instruction
/// set, and nothing else ever prints a stack trace (unless SHARPLENS_DEBUG=1).
/// </summary>
internal static class CliHost
{
    public static int Invoke(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) Console.Error.WriteLine($"error: {UntrustedText.Escape(Readable(e.Message))}");
            Console.Error.WriteLine("(run with --help for usage)");
            return (int)ExitCode.Usage;
        }
        return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }

    /// <summary>A parse error with .NET type names (<c>System.Nullable`1[System.Int32]</c>) said in words.</summary>
    internal static string Readable(string message) =>
        System.Text.RegularExpressions.Regex.Replace(message, @"expected type '(System\.Nullable`1\[)?System\.(\w+)\]?'", m => m.Groups[2].Value switch
        {
            "Int32" or "Int64" => "a whole number",
            "Double" or "Single" => "a number",
            "Boolean" => "true or false",
            var other => other,
        });

    /// <summary>What stopped the running command: "Ctrl-C" (SIGINT) or "SIGTERM"; named in the interruption message.</summary>
    public static string StoppedBy => _current?.StoppedBy ?? "Ctrl-C";

    static volatile CtrlC? _current;

    /// <summary>Runs a command body with error handling and cancellation by Ctrl-C (exit 130) or SIGTERM (exit 143)
    /// (<see cref="CtrlC"/>: work that does not stop by itself is ended).</summary>
    public static int Guard(Func<CancellationToken, int> body)
    {
        using var ctrlC = new CtrlC();
        _current = ctrlC;
        try
        {
            try
            {
                KernelOptions.ApplyEnvironment();
                return body(ctrlC.Token);
            }
            finally
            {
                ctrlC.WorkEnded();
            }
        }
        catch (SharpLensException e) when (e.Code == ExitCode.Interrupted)
        {
            return Fail(ctrlC.Code, $"interrupted: {e.Message}");
        }
        catch (SharpLensException e)
        {
            return Fail(e.Code, $"error: {CliErrors.Describe(e)}");
        }
        catch (OperationCanceledException) when (ctrlC.Pressed)
        {
            return Fail(ctrlC.Code, $"interrupted: stopped by {ctrlC.StoppedBy} before finishing; no output was written");
        }
        catch (OutOfMemoryException)
        {
            return Fail(ExitCode.Memory, "error: out of memory");
        }
        catch (Exception e)
        {
            return Fail(ExitCode.Internal, $"internal error: {e.GetType().Name}: {e.Message}",
                Environment.GetEnvironmentVariable("SHARPLENS_DEBUG") == "1" ? e.ToString() : "(this is a bug in SharpLens; set SHARPLENS_DEBUG=1 for details)");
        }
        finally
        {
            _current = null;
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> (rendering, parsing: code that cannot check the token everywhere) on a worker thread
    /// and returns as soon as it ends or <paramref name="ct"/> is cancelled; a cancelled worker is abandoned (it writes
    /// nothing: its result is only ever used by the caller) and ends with the process.
    /// </summary>
    public static T Cancellable<T>(Func<T> work, CancellationToken ct)
    {
        var task = Task.Run(work, ct);
        try { task.Wait(ct); }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException!).Throw();
        }
        return task.Result;
    }

    /// <summary>Prints the message lines on stderr, starting on a fresh line if a download progress bar was cut short. Messages
    /// quote file contents and Hub answers, so control characters are escaped (a message's own line breaks are kept).</summary>
    static int Fail(ExitCode code, params string[] lines)
    {
        DownloadProgressBar.EndOpenLine();
        foreach (string line in lines)
            foreach (string part in line.Split('\n'))
                Console.Error.WriteLine(UntrustedText.Escape(part));
        return (int)code;
    }

    /// <summary>
    /// A text given either inline (<paramref name="inline"/>, e.g. --text) or as a file (<paramref name="file"/>, e.g.
    /// --text-file, read as strict UTF-8); null when neither is given and <paramref name="required"/> is false.
    /// </summary>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Usage"/>) when both or (if required) neither are given;
    /// (<see cref="ExitCode.Input"/>) when the file is missing or not UTF-8.</exception>
    public static string? Text(ParseResult p, Option<string> inline, Option<string?> file, bool required)
    {
        bool explicitInline = p.GetResult(inline) is { Implicit: false };
        string? path = p.GetValue(file);
        if (explicitInline && path != null) throw SharpLensException.Usage($"give {inline.Name} or {file.Name}, not both");
        if (path != null) return SharpLens.IO.TextFiles.ReadStrictUtf8(path, file.Name);
        string? value = p.GetValue(inline);
        if (value == null && required) throw SharpLensException.Usage($"{inline.Name} TEXT or {file.Name} PATH is required");
        return value;
    }

    /// <summary>The embedded default model, shipped next to the executable.</summary>
    public static string DefaultModelDir => Path.Combine(AppContext.BaseDirectory, "models", "setcomp-demo");

    /// <summary>A model directory from --model: a directory, a Hub id (resolved through the Hugging Face cache; a cached
    /// snapshot used because the Hub could not bring it up to date is a one-line warning on stderr), or the default.</summary>
    public static string ResolveModel(string? model, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(model)) return DefaultModelDir;
        return ModelLocator.Resolve(model, options: null, DownloadProgressBar.Create(), ct, warning: message =>
        {
            DownloadProgressBar.EndOpenLine();
            Console.Error.WriteLine($"warning: {UntrustedText.Escape(message)}");
        });
    }
}
