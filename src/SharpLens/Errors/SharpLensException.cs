namespace SharpLens;

/// <summary>Exit codes of the CLI, one per category of failure (listed in the README).</summary>
public enum ExitCode
{
    Ok = 0,
    /// <summary>Unexpected internal error (a bug): the only case that may print details.</summary>
    Internal = 1,
    /// <summary>Bad command line: unknown option, missing argument, index out of range.</summary>
    Usage = 2,
    /// <summary>Bad user input: prompts, answer tokens, text files.</summary>
    Input = 3,
    /// <summary>A checkpoint or tokenizer that is missing, truncated, inconsistent or unsupported.</summary>
    Checkpoint = 4,
    /// <summary>Not enough memory for the model.</summary>
    Memory = 5,
    /// <summary>Hugging Face Hub: network, HTTP status, offline mode, integrity.</summary>
    Network = 6,
    /// <summary>Writing outputs failed (disk full, permissions).</summary>
    Output = 7,
    /// <summary>Interrupted by Ctrl-C (SIGINT).</summary>
    Interrupted = 130,
    /// <summary>Stopped by SIGTERM (handled like Ctrl-C: temporary files removed, one line on stderr).</summary>
    Terminated = 143,
}

/// <summary>
/// An expected failure with a message meant for the user: the CLI prints <see cref="Exception.Message"/>
/// on stderr (no stack trace) and exits with <see cref="Code"/>. Messages name the library's own parameters and fields
/// (<c>answer</c>, <c>heads</c>), never a command-line option; <see cref="Parameter"/> says which one the error is
/// about, so a front end can name its own input for it (the CLI names its option).
/// </summary>
public class SharpLensException(ExitCode code, string message, Exception? inner = null)
    : Exception(message, inner)
{
    public ExitCode Code { get; } = code;

    /// <summary>The parameter or field of the call the error is about, as the library names it: a method parameter
    /// (<c>answer</c>, <c>wrong</c>, <c>candidates</c>, <c>senders</c>, <c>only</c>, <c>skip</c>, <c>model</c>,
    /// <c>layers</c>, <c>overwrite</c>, <c>dir</c>) or an options field (<c>StudyOptions.PairLayer</c> is
    /// <c>PairLayer</c>, likewise <c>Heads</c>, <c>Senders</c>); null when no single one is.</summary>
    public string? Parameter { get; init; }

    public static SharpLensException Checkpoint(string message) => new(ExitCode.Checkpoint, message);
    public static SharpLensException Input(string message, string? parameter = null) => new(ExitCode.Input, message) { Parameter = parameter };
    public static SharpLensException Usage(string message, string? parameter = null) => new(ExitCode.Usage, message) { Parameter = parameter };
}
