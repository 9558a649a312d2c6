using Ippm.Fuzz;
using SharpFuzz;

// ippm-fuzz TARGET            run under afl-fuzz (SharpFuzz out-of-process mode; input on standard input)
// ippm-fuzz TARGET FILE...    run the target once per file (reproducing a crash, checking the corpus)
// ippm-fuzz --seeds DIR       write generated seeds (IKE messages, .pfs files) under DIR/<target>/
if (args.Length >= 2 && args[0] == "--seeds")
{
    Seeds.Write(args[1]);
    return 0;
}
if (args.Length == 0 || !FuzzTargets.All.TryGetValue(args[0], out Action<byte[]>? target))
{
    Console.Error.WriteLine($"usage: ippm-fuzz TARGET [FILE...] | --seeds DIR; targets: {string.Join(", ", FuzzTargets.All.Keys)}");
    return 1;
}
if (args.Length > 1)
{
    foreach (string file in args.Skip(1))
    {
        target(File.ReadAllBytes(file));
    }
    return 0;
}
Fuzzer.OutOfProcess.Run(stream =>
{
    using var buffer = new MemoryStream();
    stream.CopyTo(buffer);
    target(buffer.ToArray());
});
return 0;
