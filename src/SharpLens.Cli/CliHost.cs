using System.CommandLine;
using SharpLens.Hub;

namespace SharpLens.Cli;

/// <summary>
/// What every command shares: parse errors become exit code 2, a <see cref="SharpLensException"/> becomes one line on
/// stderr and its category's exit code, Ctrl-C cancels the running work, and nothing else ever prints a stack trace
/// (unless SHARPLENS_DEBUG=1).
/// </summary>
internal static class CliHost
{
    public static int Invoke(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) Console.Error.WriteLine($"error: {Readable(e.Message)}");
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

    /// <summary>Runs a command body with error handling and Ctrl-C cancellation.</summary>
    public static int Guard(Func<CancellationToken, int> body)
    {
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try
        {
            return body(cts.Token);
        }
        catch (SharpLensException e)
        {
            DownloadProgressBar.EndOpenLine();  // a half-drawn progress line must not swallow the message
            Console.Error.WriteLine(e.Code == ExitCode.Interrupted ? $"interrupted: {e.Message}" : $"error: {e.Message}");
            return (int)e.Code;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            DownloadProgressBar.EndOpenLine();  // a half-drawn progress line must not swallow the message
            Console.Error.WriteLine("interrupted: stopped by Ctrl-C before finishing; no output was written");
            return (int)ExitCode.Interrupted;
        }
        catch (OutOfMemoryException)
        {
            DownloadProgressBar.EndOpenLine();  // a half-drawn progress line must not swallow the message
            Console.Error.WriteLine("error: out of memory");
            return (int)ExitCode.Memory;
        }
        catch (Exception e)
        {
            DownloadProgressBar.EndOpenLine();  // a half-drawn progress line must not swallow the message
            Console.Error.WriteLine($"internal error: {e.GetType().Name}: {e.Message}");
            if (Environment.GetEnvironmentVariable("SHARPLENS_DEBUG") == "1") Console.Error.WriteLine(e);
            else Console.Error.WriteLine("(this is a bug in SharpLens; set SHARPLENS_DEBUG=1 for details)");
            return (int)ExitCode.Internal;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
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

    /// <summary>A model directory from --model: a directory, a Hub id (resolved through the Hugging Face cache), or the default.</summary>
    public static string ResolveModel(string? model, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(model)) return DefaultModelDir;
        return ModelLocator.Resolve(model, HubOptions.FromEnvironment(), DownloadProgressBar.Create(), ct);
    }
}
