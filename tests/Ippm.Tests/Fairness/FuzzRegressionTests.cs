using Ippm.Fuzz;

namespace Ippm.Tests.Fairness;

/// <summary>
/// The fuzz targets without the fuzzer: every input under <c>fuzz/regressions/TARGET/</c> (crashes found once, and
/// hand-made hostile inputs) and ippm's generated seeds go through their target, and random inputs through every
/// target; none may throw. Keeps the targets building and every crash the fuzzer found fixed.
/// </summary>
public sealed class FuzzRegressionTests
{
    private static string RegressionDirectory()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "fuzz", "regressions");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new DirectoryNotFoundException("fuzz/regressions not found above the test binaries");
    }

    public static TheoryData<string> Targets() => [.. FuzzTargets.All.Keys];

    [Theory]
    [MemberData(nameof(Targets))]
    public void RegressionsAndGeneratedSeeds_PassThroughTheirTarget(string target)
    {
        Action<byte[]> run = FuzzTargets.All[target];
        string seeds = Directory.CreateTempSubdirectory("ippm-seeds").FullName;
        try
        {
            Seeds.Write(seeds);
            var inputs = new List<string>();
            foreach (string root in new[] { RegressionDirectory(), seeds })
            {
                string dir = Path.Combine(root, target);
                if (Directory.Exists(dir))
                {
                    inputs.AddRange(Directory.GetFiles(dir));
                }
            }
            foreach (string file in inputs)
            {
                run(File.ReadAllBytes(file));
            }
        }
        finally
        {
            Directory.Delete(seeds, recursive: true);
        }
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void RandomInputs_NeverThrow(string target)
    {
        Action<byte[]> run = FuzzTargets.All[target];
        var random = new Random(10);
        for (int i = 0; i < 300; i++)
        {
            byte[] input = new byte[random.Next(0, 600)];
            random.NextBytes(input);
            run(input);
        }
    }
}
