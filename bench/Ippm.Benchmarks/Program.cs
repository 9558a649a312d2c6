using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Ippm.Benchmarks.PacketBenchmarks).Assembly).Run(args);
