using System.Runtime.CompilerServices;

namespace SharpLens.Model;

/// <summary>
/// The trained set-completion demo model that ships in the repository (<c>models/setcomp-demo</c>), for examples and
/// scripts that run on it when given no model.
/// </summary>
public static class DemoModel
{
    /// <summary>The demo model's folder below a repository root.</summary>
    public static readonly string RelativePath = Path.Combine("models", "setcomp-demo");

    /// <summary>
    /// Finds <c>models/setcomp-demo</c> in the folder of the calling source file or any folder above it, then in the
    /// working directory or any folder above that (a file-based app run from anywhere inside a checkout finds it).
    /// </summary>
    /// <param name="callerFile">Filled in by the compiler: the calling source file.</param>
    /// <returns>The demo model's folder (holding <c>config.json</c>).</returns>
    /// <exception cref="SharpLensException">(<see cref="ExitCode.Checkpoint"/>) when no such folder is found.</exception>
    public static string Find([CallerFilePath] string callerFile = "")
    {
        foreach (var start in new[] { Path.GetDirectoryName(callerFile), Environment.CurrentDirectory })
            for (var dir = string.IsNullOrEmpty(start) ? null : new DirectoryInfo(start); dir != null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, RelativePath, "config.json")))
                    return Path.Combine(dir.FullName, RelativePath);
        throw SharpLensException.Checkpoint($"{RelativePath} not found above the script or the working directory; pass a model folder");
    }
}
