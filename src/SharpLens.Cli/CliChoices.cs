using System.CommandLine;

namespace SharpLens.Cli;

/// <summary>Option values from a fixed set, matched without regard to case (<c>--processing TL</c> is <c>tl</c>).</summary>
internal static class CliChoices
{
    /// <summary>Makes <paramref name="option"/> accept any casing of <paramref name="values"/>; read it with <see cref="Value"/>.</summary>
    public static Option<string> OneOf(this Option<string> option, params string[] values)
    {
        option.Validators.Add(r =>
        {
            foreach (var t in r.Tokens)
                if (!values.Contains(t.Value.ToLowerInvariant()))
                    r.AddError($"{option.Name} must be one of {string.Join(", ", values)}, got \"{t.Value}\"");
        });
        option.CompletionSources.Add(values);
        return option;
    }

    /// <summary>The value in lower case.</summary>
    public static string? Value(this ParseResult p, Option<string> option) => p.GetValue(option)?.ToLowerInvariant();
}
