using System.CommandLine;

namespace SharpLens.Cli.Commands;

/// <summary>Options several commands declare alike: the model, and a text given inline or read from a file
/// (<see cref="CliHost.Text"/> reads the pair).</summary>
internal static class CommonOptions
{
    /// <summary><c>--model</c>: a model directory or Hub id, absent for the embedded demo model (<see cref="CliHost.ResolveModel"/>).</summary>
    public static Option<string?> Model(string description = "model directory or Hub id (default: the embedded set-completion demo)") =>
        new("--model") { Description = description };

    /// <summary><c>--text</c>: the text inline.</summary>
    public static Option<string> Text(string description) => new("--text") { Description = description };

    /// <summary><c>--text-file</c>: the same text from a file; <paramref name="what"/> names it ("prompt", "text").</summary>
    public static Option<string?> TextFile(string what) =>
        new("--text-file") { Description = $"read the {what} from a UTF-8 file instead (one final line break is dropped)" };
}
