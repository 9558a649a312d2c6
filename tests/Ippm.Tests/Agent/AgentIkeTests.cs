using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Ippm.Agent;
using Ippm.Tests.Cli;
using Microsoft.Extensions.Logging.Abstractions;

namespace Ippm.Tests.Agent;

/// <summary>RFC 7717 in the agent: each session keyed from an IKEv2 SA (pre-shared key) with an <c>ippm server --ike-listen</c> process.</summary>
public sealed class AgentIkeTests
{
    [Fact]
    public async Task Agent_IkePsk_KeysEverySessionFromAnSa_AndAWrongKeyOrPeerIsRefused()
    {
        using var h = new AgentHarness();
        string goodPsk = Path.Combine(h.Directory, "good.psk"), badPsk = Path.Combine(h.Directory, "bad.psk");
        File.WriteAllText(goodPsk, "the key the server holds\n");
        File.WriteAllText(badPsk, "some other key\n");
        using var server = new ServerProcess("server", "--twamp-listen", "127.0.0.1:0", "--owamp-listen", "127.0.0.1:0",
            "--ike-listen", "127.0.0.1:0", "--ike-psk-file", goodPsk, "--modes", "authenticated,encrypted");
        await server.WaitForLogAsync("ready (pid", TimeSpan.FromSeconds(60));
        int twampPort = await server.TwampPortAsync(TimeSpan.FromSeconds(60)), owampPort = await server.OwampPortAsync(TimeSpan.FromSeconds(60));
        int ikePort = await server.IkePortAsync(TimeSpan.FromSeconds(60));
        AgentConfig config = h.Write($"""
            archive = {h.ArchivePath}
            retry-initial = 0.2
            retry-max = 0.4

            [test ike-twamp]
            target = 127.0.0.1:{twampPort}
            protocol = twamp
            mode = authenticated
            ike-psk-file = good.psk
            ike-port = {ikePort}
            count = 5
            interval = 0.01f
            every = 0.5

            [test ike-owamp]
            target = 127.0.0.1:{owampPort}
            protocol = owamp
            mode = encrypted
            ike-psk-file = good.psk
            ike-port = {ikePort}
            count = 5
            interval = 0.01f
            timeout = 0.3
            every = 0.5

            [test ike-wrong-key]
            target = 127.0.0.1:{twampPort}
            protocol = twamp
            mode = authenticated
            ike-psk-file = bad.psk
            ike-port = {ikePort}

            [test ike-wrong-peer]
            target = 127.0.0.1:{twampPort}
            protocol = twamp
            mode = authenticated
            ike-psk-file = good.psk
            ike-port = {ikePort}
            ike-remote-id = fqdn:someone-else.test
            """);
        await using (var agent = new MeasurementAgent(config, NullLoggerFactory.Instance))
        {
            agent.Start();
            await AgentHarness.UntilAttemptsAsync(agent, TimeSpan.FromSeconds(90), ("ike-twamp", 2), ("ike-owamp", 2), ("ike-wrong-key", 2), ("ike-wrong-peer", 2));
            await agent.StopAsync();
        }
        ILookup<string, JsonElement> byTest = h.Lines().ToLookup(l => l.GetProperty("test").GetString()!);
        foreach (string test in new[] { "ike-twamp", "ike-owamp" })
        {
            JsonElement[] ok = byTest[test].Where(l => l.GetProperty("outcome").GetString() == "ok").ToArray();
            Assert.True(ok.Length >= 1, string.Join("\n", byTest[test]));
            Assert.All(ok, l => Assert.Equal("ikev2", l.GetProperty("key_source").GetString()));
            Assert.All(ok, l => Assert.Matches("^[0-9a-f]{16}$", l.GetProperty("spi_i").GetString()));
        }
        Assert.All(byTest["ike-twamp"].Where(l => l.GetProperty("outcome").GetString() == "ok"), l => Assert.Equal(5, l.GetProperty("received").GetInt32()));
        Assert.All(byTest["ike-wrong-key"].SkipLast(1), l => Assert.Equal("refused", l.GetProperty("outcome").GetString()));
        Assert.All(byTest["ike-wrong-peer"].SkipLast(1), l => Assert.Equal("refused", l.GetProperty("outcome").GetString()));
        Assert.Contains("wrong peer", byTest["ike-wrong-peer"].First().GetProperty("error").GetString());
        Assert.False(server.HasExited);
    }
}
