using System.Globalization;
using SharpLens.Cli;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

return CliHost.Invoke(CliApp.BuildRoot(), args);
