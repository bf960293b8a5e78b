using System.CommandLine;
using System.Globalization;
using SharpLens.Cli;
using SharpLens.Cli.Commands;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

var root = new RootCommand("SharpLens: mechanistic interpretability for Qwen2/Llama-family models on the CPU")
{
    TokenizeCommand.Create(),
    RunCommand.Create(),
    StudyCommand.Create(),
    ReportCommand.Create(),
    MakeRandomCommand.Create(),
    BenchCommand.Create(),
};
return CliHost.Invoke(root, args);
