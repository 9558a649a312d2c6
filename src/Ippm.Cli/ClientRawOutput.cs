using System.CommandLine;
using System.Net;
using System.Text;
using Ippm.Sessions.Owamp;
using Ippm.Sessions.PerfsonarOutput;
using Ippm.Sessions.SessionFiles;
using Ippm.Sessions.Twamp;
using Ippm.Wire;

namespace Ippm.Cli;

/// <summary>owping's -F FILE / -T FILE: save the inbound / outbound session in perfSONAR's .owp format (and measure that direction).</summary>
internal sealed class OwpingSaveOptions
{
    public Option<FileInfo?> SaveFrom { get; } = new("-F", "--save-from") { Description = "Measure from the server and save that session to FILE in perfSONAR's .owp format (owping -F; ippm stats and owstats read it).", HelpName = "FILE" };
    public Option<FileInfo?> SaveTo { get; } = new("-T", "--save-to") { Description = "Measure to the server and save that session, fetched from the server, to FILE in perfSONAR's .owp format (owping -T).", HelpName = "FILE" };

    public void AddTo(Command command)
    {
        command.Add(SaveFrom);
        command.Add(SaveTo);
    }
}

/// <summary>What twping and owping print instead of their report with -R or -M, and what owping saves with -F/-T.</summary>
internal sealed record ClientRawOutput(RawOutputOptions.Values Output, FileInfo? SaveFrom = null, FileInfo? SaveTo = null)
{
    /// <summary>The host part of HOST[:PORT] as the user wrote it: perfSONAR prints the remote end by the name it was given.</summary>
    private static string HostPart(string label) => EndpointParser.TrySplit(label, 0, out string host, out _) ? host : label;

    /// <summary>Null when <paramref name="file"/> can be written (created and removed again if it did not exist), else why not.</summary>
    public static string? CheckWritable(FileInfo file)
    {
        bool existed = File.Exists(file.FullName);
        try
        {
            using (new FileStream(file.FullName, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite))
            {
            }
            if (!existed)
            {
                File.Delete(file.FullName);
            }
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"cannot save in {file}: {e.Message}";
        }
    }

    /// <summary>Saves the directions -F/-T name; a direction that was not measured (refused fetch) is an error.</summary>
    public string? Save(OwampResult result)
    {
        foreach ((FileInfo? file, PerfsonarOwpSession? session, string what) in new[] { (SaveTo, result.OutboundFile, "outbound (-T)"), (SaveFrom, result.InboundFile, "inbound (-F)") })
        {
            if (file is null)
            {
                continue;
            }
            if (session is null)
            {
                return $"the {what} session has no results to save in {file}.";
            }
            try
            {
                PerfsonarOwpFileWriter.Write(file.FullName, session, session.SkipPlacement);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return $"cannot save the {what} session in {file}: {e.Message}";
            }
        }
        return null;
    }

    /// <summary>owping -R / -M (nothing for -Q): the outbound session's output, then the inbound one's, as owping prints them.</summary>
    public async Task<string> OwpingAsync(OwampResult result, string label, CancellationToken cancellationToken)
    {
        if (Output.Quiet)
        {
            return "";
        }
        var b = new StringBuilder();
        IPAddress localAddress = result.LocalControl?.Address ?? IPAddress.Loopback;
        string local = await RawOutputOptions.NameOfAsync(localAddress.IsIPv4MappedToIPv6 ? localAddress.MapToIPv4() : localAddress, cancellationToken).ConfigureAwait(false);
        string remote = HostPart(label);
        foreach ((PerfsonarOwpSession? session, string from, string to) in new[] { (result.OutboundFile, local, remote), (result.InboundFile, remote, local) })
        {
            if (session is null)
            {
                continue;
            }
            if (Output.Raw)
            {
                foreach (Ippm.Wire.Test.OwampDataRecord r in session.Records)
                {
                    b.Append(PerfsonarReport.RawLine(r)).Append('\n');
                }
                continue;
            }
            b.Append(PerfsonarReport.Machine(PerfsonarStats.ForOwamp(session, PerfsonarStats.InfoFor(session, from, to), Output.BucketWidth)));
        }
        return b.ToString();
    }

    /// <summary>twping -R / -M for one session (nothing for -Q).</summary>
    public async Task<string> TwpingAsync(TwampSessionResult result, string label, CancellationToken cancellationToken)
    {
        if (Output.Quiet)
        {
            return "";
        }
        if (Output.Raw)
        {
            return string.Concat(PerfsonarReport.RawLines(result).Select(l => l + "\n"));
        }
        IPEndPoint localTest = result.LocalTest ?? new IPEndPoint(IPAddress.Any, 0);
        IPEndPoint peerTest = result.PeerTest ?? new IPEndPoint(IPAddress.Any, 0);
        IPAddress localAddress = Unmap(localTest.Address);
        var info = new PerfsonarSessionInfo
        {
            TwoWay = true,
            Sid = result.Sid,
            FromHost = await RawOutputOptions.NameOfAsync(localAddress, cancellationToken).ConfigureAwait(false),
            FromAddress = localAddress.ToString(),
            FromPort = localTest.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ToHost = HostPart(label),
            ToAddress = Unmap(peerTest.Address).ToString(),
            ToPort = peerTest.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // twping's START_TIME/END_TIME are its schedule's; ippm prints when the first and last packets left.
            StartTime = result.FirstSend,
            EndTime = result.LastSend,
            TypeP = Ippm.Wire.Control.SessionRequest.TypePFromDscp(result.Request?.Dscp ?? result.RequestedDscp),
            LossTimeout = NtpTimestamp.FromSeconds(result.Timeout.TotalSeconds),
            Padding = (uint)Math.Max(0, result.SenderPacketLength - Ippm.Wire.Test.TestPacketLayout.SenderHeader(result.Mode.ProtectsTestPackets())),
            SessionPacketCount = (uint)(result.Request?.Count ?? result.Sent),
            SampleFirst = 0,
            SampleLast = (uint)(result.Request?.Count ?? result.Sent),
            Finished = !result.Interrupted,
        };
        return PerfsonarReport.Machine(PerfsonarStats.ForTwamp(result, info, Output.BucketWidth));
    }

    private static IPAddress Unmap(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
