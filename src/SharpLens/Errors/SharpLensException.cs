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
/// on stderr (no stack trace) and exits with <see cref="Code"/>.
/// </summary>
public class SharpLensException(ExitCode code, string message, Exception? inner = null)
    : Exception(message, inner)
{
    public ExitCode Code { get; } = code;

    public static SharpLensException Checkpoint(string message) => new(ExitCode.Checkpoint, message);
    public static SharpLensException Input(string message) => new(ExitCode.Input, message);
    public static SharpLensException Usage(string message) => new(ExitCode.Usage, message);
}
