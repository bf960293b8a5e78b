namespace SharpLens.Cli;

/// <summary>
/// The library's errors name its own parameters (<see cref="SharpLensException.Parameter"/>), never an option; the CLI
/// puts the option that sets that parameter in front of the message, so the user reads which flag to change.
/// </summary>
internal static class CliErrors
{
    /// <summary>Library parameter or options field → the option that sets it (any case).</summary>
    static readonly Dictionary<string, string> Options = new(StringComparer.OrdinalIgnoreCase)
    {
        ["answer"] = "--answer", ["wrong"] = "--wrong", ["candidates"] = "--candidates",
        ["pairLayer"] = "--pair-layer", ["heads"] = "--heads", ["senders"] = "--sender",
        ["only"] = "--only", ["skip"] = "--skip", ["model"] = "--model", ["tokenizer"] = "--model",
        ["layers"] = "--layers", ["overwrite"] = "--force",
    };

    /// <summary>The option the error is about, or null.</summary>
    public static string? OptionOf(SharpLensException e) => e.Parameter is { } p && Options.TryGetValue(p, out var flag) ? flag : null;

    /// <summary>The message as the CLI prints it: "--option: message" when the error is about one option.</summary>
    public static string Describe(SharpLensException e) => OptionOf(e) is { } flag ? $"{flag}: {e.Message}" : e.Message;
}
