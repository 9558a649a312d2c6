using System.Diagnostics;
using System.Net;
using Ippm.Security;
using Ippm.Tests.Cli;

namespace Ippm.Tests.Service;

/// <summary>
/// An owampd/twampd configuration directory written as perfSONAR's manual pages show it — twamp-server.conf,
/// owamp-server.conf, twamp-server.pfs and the limits files with three classes: the loopback network 127.0.0.1/32 may
/// test in open mode at 1 Mbit/s, the authenticated user alice at 10 Mbit/s, and everything else (the default, e.g.
/// ::1) lands in the "jail" class twampd.limits(5) suggests for denying (bandwidth=1, allow_open_mode=off).
/// </summary>
internal sealed class PerfsonarDirectory : IDisposable
{
    public static readonly byte[] AlicePassphrase = "alice-secret-1"u8.ToArray();
    public static readonly byte[] BobPassphrase = "bob-secret-22"u8.ToArray();

    public const string Limits = """
        # perfSONAR limits, as in twampd.limits(5)
        limit root with \
            bandwidth=0, \
            allow_open_mode=off

        limit jail with parent=root, \
            bandwidth=1, \
            allow_open_mode=off

        limit opennet with parent=root, \
            bandwidth=1m, \
            allow_open_mode=on

        limit authuser with parent=root, \
            bandwidth=10m

        assign default jail
        assign net 127.0.0.1/32 opennet
        assign user alice authuser
        """;

    public PerfsonarDirectory()
    {
        Path = Directory.CreateTempSubdirectory("ippm-perfsonar-").FullName;
        // srcnode on the wildcard: 127.0.0.1 and ::1 reach the same listener but belong to different classes. Port 0:
        // the server binds free ports and StartServerAsync reads them from its log.
        File.WriteAllText(Combine("twamp-server.conf"), "# twampd.conf(5)\nsrcnode [::]:0\nauthmode AEO\ncontroltimeout 900\nuser twamp\ngroup twamp\n");
        File.WriteAllText(Combine("owamp-server.conf"), "srcnode [::]:0\nauthmode AEO\ndiskfudge 1.5\n");
        File.WriteAllText(Combine("twamp-server.pfs"), KeyFile.FormatLine("alice", AlicePassphrase) + "\n" + KeyFile.FormatLine("bob", BobPassphrase) + "\n");
        WriteLimits(Limits);
    }

    public string Path { get; }
    /// <summary>The ports the last server started by <see cref="StartServerAsync"/> bound.</summary>
    public int TwampPort { get; private set; }

    public int OwampPort { get; private set; }

    public IPEndPoint Twamp(IPAddress address) => new(address, TwampPort);

    public IPEndPoint Owamp(IPAddress address) => new(address, OwampPort);

    public void WriteLimits(string text)
    {
        File.WriteAllText(Combine("twamp-server.limits"), text);
        File.WriteAllText(Combine("owamp-server.limits"), text);
    }

    public string Combine(string name) => System.IO.Path.Combine(Path, name);

    public async Task<ServerProcess> StartServerAsync(params string[] extra)
    {
        var server = new ServerProcess(["server", "--perfsonar-config", Path, "--log-level", "Debug", .. extra]);
        try
        {
            await server.WaitForLogAsync("ready (pid", TimeSpan.FromSeconds(30));
            TwampPort = await server.TwampPortAsync(TimeSpan.FromSeconds(30));
            OwampPort = await server.OwampPortAsync(TimeSpan.FromSeconds(30));
            return server;
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    public static void Hangup(ServerProcess server)
    {
        using var kill = Process.Start("kill", ["-HUP", server.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit(5000);
        Assert.Equal(0, kill.ExitCode);
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
