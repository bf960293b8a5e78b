using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/SharpLens.Benchmarks -- --filter '*'      (all)
// dotnet run -c Release --project benchmarks/SharpLens.Benchmarks -- --filter '*Gemm*' (one class)
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
