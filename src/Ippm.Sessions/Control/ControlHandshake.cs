using System.Security.Cryptography;
using Ippm.Security;
using Ippm.Sessions.Time;
using Ippm.Wire;
using Ippm.Wire.Control;
using Microsoft.Extensions.Logging;

namespace Ippm.Sessions.Control;

/// <summary>The outcome of a successful Server-Greeting / Set-Up-Response / Server-Start exchange.</summary>
public sealed class ControlHandshakeResult : IDisposable
{
    public required SecurityMode Mode { get; init; }

    /// <summary>The Modes word as sent in Set-Up-Response (security bit plus any feature bits).</summary>
    public required uint ModeBits { get; init; }

    /// <summary>The session keys from the Token; null in open mode.</summary>
    public ControlKeys? Keys { get; init; }

    /// <summary>The KeyID identity (PSK modes), for logs and policy.</summary>
    public string? Identity { get; init; }

    public NtpTimestamp ServerStartTime { get; init; }

    public uint ServerModes { get; init; }

    /// <summary>Where the Token key came from: none (open mode), a passphrase, or an IKEv2 SA (RFC 7717).</summary>
    public KeySource KeySource { get; init; }

    /// <summary>The IKE SA's SPIs when <see cref="KeySource"/> is <see cref="KeySource.Ikev2"/>.</summary>
    public (ulong SpiI, ulong SpiR)? IkeSpis { get; init; }

    /// <summary>The authenticated IKE identity of the other end when <see cref="KeySource"/> is <see cref="KeySource.Ikev2"/>.</summary>
    public string? PeerIdentity { get; init; }

    public void Dispose() => Keys?.Dispose();
}

public enum KeySource
{
    None,
    Passphrase,
    Ikev2,
}

/// <summary>What the server's IKE layer knows about the SA named in a KeyID (RFC 7717 §5.2).</summary>
/// <param name="Secret">S and the derivation to use; null when no usable SA matches.</param>
/// <param name="Problem">Why not, for the log (unknown, deleted, rekeyed).</param>
public readonly record struct Rfc7717Lookup(Rfc7717Secret? Secret, string? PeerIdentity, string? Problem);

/// <summary>Looks an IKE SA up by SPIi and SPIr.</summary>
public delegate Rfc7717Lookup Rfc7717SecretLookup(ulong spiI, ulong spiR);

/// <summary>
/// The connection set-up shared by OWAMP and TWAMP (RFC 4656 §3.1, RFC 5357 §3.1).
/// </summary>
public static partial class ControlHandshake
{
    /// <summary>The client refuses a PBKDF2 Count above this by default, so a server cannot make it burn CPU (RFC 5357 §6).</summary>
    public const uint DefaultMaxCount = 32768;

    /// <summary>Server side. Returns null when the client was refused (Server-Start with Accept ≠ 0 already sent).</summary>
    public static async Task<ControlHandshakeResult?> AcceptAsync(
        ControlChannel channel,
        ControlProtocol protocol,
        uint offeredModes,
        uint count,
        KeyFile? keys,
        ILogger logger,
        string peer,
        CancellationToken cancellationToken,
        Rfc7717SecretLookup? ikeLookup = null)
    {
        uint ikeBit = SecurityModes.IkeV2Bit(protocol);
        if (ikeLookup is not null)
        {
            offeredModes |= ikeBit;
        }
        else
        {
            offeredModes &= ~ikeBit;
        }
        byte[] challenge = RandomNumberGenerator.GetBytes(16);
        byte[] salt = RandomNumberGenerator.GetBytes(16);
        byte[] buffer = new byte[SetUpResponse.Length];
        new ServerGreeting(offeredModes, challenge, salt, count).Write(buffer);
        await channel.WriteRawAsync(buffer.AsMemory(0, ServerGreeting.Length), cancellationToken).ConfigureAwait(false);

        await channel.ReadRawAsync(buffer, cancellationToken).ConfigureAwait(false);
        SetUpResponse.TryRead(buffer, out SetUpResponse? setUp);
        uint modeBits = setUp!.Mode;
        uint securityBits = modeBits & SecurityModes.SecurityBits(protocol);
        uint featureBits = modeBits & ~SecurityModes.SecurityBits(protocol);
        if (modeBits == 0)
        {
            // RFC 4656 §3.1: Mode 0 means the client does not wish to continue.
            Log.ClientDeclined(logger, peer);
            return null;
        }
        if (!IsSingleBit(securityBits) || (securityBits & offeredModes) == 0 || (featureBits & ~offeredModes) != 0)
        {
            Log.ModeNotOffered(logger, peer, modeBits, offeredModes);
            await RefuseAsync(channel, AcceptCode.NotSupported, cancellationToken).ConfigureAwait(false);
            return null;
        }
        var mode = (SecurityMode)securityBits;
        if (!mode.ProtectsControl())
        {
            if ((modeBits & ikeBit) != 0)
            {
                // RFC 7717 adds nothing to unauthenticated mode: its key only protects modes 2, 4 and 8.
                Log.IkeWithoutSecurity(logger, peer, modeBits);
                await RefuseAsync(channel, AcceptCode.NotSupported, cancellationToken).ConfigureAwait(false);
                return null;
            }
            await SendServerStartAsync(channel, AcceptCode.Ok, new byte[16], cancellationToken).ConfigureAwait(false);
            return new ControlHandshakeResult { Mode = mode, ModeBits = modeBits, ServerModes = offeredModes };
        }

        bool viaIke = (modeBits & ikeBit) != 0;
        string identity;
        byte[] dk;
        bool known;
        (ulong SpiI, ulong SpiR)? spis = null;
        string? peerIdentity = null;
        if (viaIke)
        {
            // RFC 7717 §5.2: the KeyID carries SPIi | SPIr; only its first 16 octets are read.
            (ulong spiI, ulong spiR) = Rfc7717Secret.ReadSpis(setUp.KeyId);
            Rfc7717Lookup lookup = ikeLookup!(spiI, spiR);
            if (lookup.Secret is null)
            {
                Log.NoIkeSa(logger, peer, spiI.ToString("x16", System.Globalization.CultureInfo.InvariantCulture), spiR.ToString("x16", System.Globalization.CultureInfo.InvariantCulture), lookup.Problem ?? "unknown SPIs");
                await RefuseAsync(channel, AcceptCode.NoMatchingIkeSa, cancellationToken).ConfigureAwait(false);
                return null;
            }
            using Rfc7717Secret secret = lookup.Secret;
            dk = secret.DeriveTokenKey(salt, count);
            // Prefixed so an IKE peer named "alice" is never taken for the passphrase user "alice" (e.g. when fetching).
            identity = "ike:" + (lookup.PeerIdentity ?? $"{secret.SpiIText}{secret.SpiRText}");
            peerIdentity = lookup.PeerIdentity;
            spis = (spiI, spiR);
            known = true;
        }
        else
        {
            identity = SetUpResponse.IdentityFromKeyId(setUp.KeyId);
            known = keys is not null && keys.TryGetSecret(identity, out _);
            // The reference decrypts the Token even for an unknown KeyID so the response time does not tell
            // whether the user exists; a random secret stands in.
            byte[] secret = known && keys!.TryGetSecret(identity, out ReadOnlySpan<byte> s) ? s.ToArray() : RandomNumberGenerator.GetBytes(16);
            dk = Token.DeriveKey(secret, salt, count);
            CryptographicOperations.ZeroMemory(secret);
        }
        ControlKeys? controlKeys = null;
        try
        {
            controlKeys = Token.TryDecrypt(dk, setUp.Token, challenge);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dk);
        }
        if (!known || controlKeys is null)
        {
            controlKeys?.Dispose();
            if (!known)
            {
                Log.UnknownIdentity(logger, peer, LogSafe(identity));
            }
            else
            {
                Log.BadToken(logger, peer, LogSafe(identity));
            }
            await RefuseAsync(channel, AcceptCode.Failure, cancellationToken).ConfigureAwait(false);
            return null;
        }

        byte[] serverIv = RandomNumberGenerator.GetBytes(16);
        channel.Protect(
            ControlStreamCipher.Create(controlKeys, serverIv),
            ControlStreamCipher.Create(controlKeys, setUp.ClientIv));
        await SendServerStartAsync(channel, AcceptCode.Ok, serverIv, cancellationToken).ConfigureAwait(false);
        return new ControlHandshakeResult
        {
            Mode = mode,
            ModeBits = modeBits,
            Keys = controlKeys,
            Identity = identity,
            ServerModes = offeredModes,
            KeySource = viaIke ? KeySource.Ikev2 : KeySource.Passphrase,
            IkeSpis = spis,
            PeerIdentity = peerIdentity,
        };
    }

    private static async Task RefuseAsync(ControlChannel channel, AcceptCode accept, CancellationToken cancellationToken)
    {
        // A refusal travels in clear with zero IV and zero last block, as the reference sends it.
        byte[] message = new byte[ServerStart.Length];
        new ServerStart(accept, new byte[16], default).Write(message);
        await channel.WriteRawAsync(message, cancellationToken).ConfigureAwait(false);
    }

    private static async Task SendServerStartAsync(ControlChannel channel, AcceptCode accept, byte[] serverIv, CancellationToken cancellationToken)
    {
        byte[] message = new byte[ServerStart.Length];
        new ServerStart(accept, serverIv, ProcessStartTime).Write(message);
        // Octets 32–47 are the first block of the server → client stream; their plaintext joins the first HMAC.
        channel.SendCipher.EncryptUnsealed(message.AsSpan(ServerStart.ClearLength));
        await channel.WriteRawAsync(message, cancellationToken).ConfigureAwait(false);
    }

    private static readonly NtpTimestamp ProcessStartTime = SystemClock.Instance.Now();

    /// <summary>Client side. Throws <see cref="ControlProtocolException"/> when refused or on a protocol error.</summary>
    public static async Task<ControlHandshakeResult> ConnectAsync(
        ControlChannel channel,
        ControlProtocol protocol,
        uint acceptableModes,
        string? identity,
        byte[]? secret,
        uint maxCount,
        CancellationToken cancellationToken,
        Rfc7717Secret? ike = null,
        uint wantedFeatures = 0)
    {
        uint ikeBit = SecurityModes.IkeV2Bit(protocol);
        byte[] buffer = new byte[SetUpResponse.Length];
        await channel.ReadRawAsync(buffer.AsMemory(0, ServerGreeting.Length), cancellationToken).ConfigureAwait(false);
        ServerGreeting.TryRead(buffer, out ServerGreeting? greeting);
        if (greeting!.Modes == 0)
        {
            throw new ControlProtocolException("The server refuses to talk (Server-Greeting Modes = 0).");
        }
        if (ike is not null && (greeting.Modes & ikeBit) == 0)
        {
            // Never set a bit the server did not advertise (a legacy server closes the connection on it).
            await DeclineAsync(channel, cancellationToken).ConfigureAwait(false);
            throw new ControlProtocolException("The server does not offer IKEv2-derived keys (RFC 7717); it is a legacy server or runs without --ike-listen.", AcceptCode.NotSupported);
        }
        uint common = greeting.Modes & acceptableModes & SecurityModes.SecurityBits(protocol);
        if (ike is not null)
        {
            common &= ~(uint)SecurityMode.Open;
        }
        SecurityMode? chosen = null;
        foreach (SecurityMode candidate in SecurityModes.StrongestFirst)
        {
            if ((common & (uint)candidate) != 0)
            {
                chosen = candidate;
                break;
            }
        }
        if (chosen is null)
        {
            await DeclineAsync(channel, cancellationToken).ConfigureAwait(false);
            throw new ControlProtocolException(
                $"No common mode: the server offers {DescribeModes(greeting.Modes)}, this client accepts {DescribeModes(acceptableModes)}.",
                AcceptCode.NotSupported);
        }
        SecurityMode mode = chosen.Value;
        ControlKeys? keys = null;
        byte[] clientIv = new byte[16];
        byte[] keyId = new byte[SetUpResponse.KeyIdLength];
        byte[] token = new byte[Token.Length];
        if (mode.ProtectsControl())
        {
            if (ike is null && (identity is null || secret is null))
            {
                await DeclineAsync(channel, cancellationToken).ConfigureAwait(false);
                throw new ControlProtocolException($"Mode {mode.Name()} needs an identity (-u) and a key file (-k), or --ike.");
            }
            if (greeting.Count > maxCount || greeting.Count == 0)
            {
                await DeclineAsync(channel, cancellationToken).ConfigureAwait(false);
                throw new ControlProtocolException($"The server's PBKDF2 Count {greeting.Count} is outside 1..{maxCount}; refusing.");
            }
            keys = ControlKeys.CreateRandom();
            RandomNumberGenerator.Fill(clientIv);
            keyId = ike?.KeyId() ?? SetUpResponse.KeyIdFromIdentity(identity!);
            byte[] dk = ike?.DeriveTokenKey(greeting.Salt, greeting.Count) ?? Token.DeriveKey(secret!, greeting.Salt, greeting.Count);
            try
            {
                token = Token.Encrypt(dk, greeting.Challenge, keys);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(dk);
            }
        }
        try
        {
            // Feature bits only when the server advertised them: a legacy server (perfSONAR) closes on any extra bit.
            uint features = protocol == ControlProtocol.Twamp ? wantedFeatures & greeting.Modes & SecurityModes.TwampFeatureBits : 0;
            uint modeBits = (uint)mode | (ike is not null ? ikeBit : 0) | features;
            new SetUpResponse(modeBits, keyId, token, clientIv).Write(buffer);
            await channel.WriteRawAsync(buffer, cancellationToken).ConfigureAwait(false);

            byte[] start = new byte[ServerStart.Length];
            await channel.ReadRawAsync(start.AsMemory(0, ServerStart.ClearLength), cancellationToken).ConfigureAwait(false);
            var accept = (AcceptCode)start[15];
            if (accept == AcceptCode.Failure && ike is not null)
            {
                // The server knows the SA (else Accept=6), so S is right: only the Token key derivation can differ.
                throw new ControlProtocolException(
                    $"Server denied access (Accept=1) to a Token keyed from IKEv2 SA {ike.SpiIText}/{ike.SpiRText}, which it knows: the IKE SA and identity are fine, but the server may use the other RFC 7717 key derivation (--ike-key-derivation {(ike.Derivation == Rfc7717KeyDerivation.Pbkdf2 ? "direct" : "pbkdf2")}; this client used {(ike.Derivation == Rfc7717KeyDerivation.Pbkdf2 ? "pbkdf2" : "direct")}).",
                    accept);
            }
            if (accept != AcceptCode.Ok)
            {
                throw new ControlProtocolException(DescribeRefusal(accept), accept);
            }
            if (keys is not null)
            {
                channel.Protect(ControlStreamCipher.Create(keys, clientIv), ControlStreamCipher.Create(keys, start.AsSpan(16, 16)));
            }
            await channel.ReadBlocksAsync(start.AsMemory(ServerStart.ClearLength), cancellationToken).ConfigureAwait(false);
            ServerStart.TryRead(start, out ServerStart? serverStart);
            var result = new ControlHandshakeResult
            {
                Mode = mode,
                ModeBits = modeBits,
                Keys = keys,
                Identity = identity,
                ServerStartTime = serverStart!.StartTime,
                ServerModes = greeting.Modes,
                KeySource = ike is not null ? KeySource.Ikev2 : mode.ProtectsControl() ? KeySource.Passphrase : KeySource.None,
                IkeSpis = ike is null ? null : (ike.SpiI, ike.SpiR),
                PeerIdentity = ike?.PeerIdentity,
            };
            keys = null;
            return result;
        }
        finally
        {
            keys?.Dispose();
        }
    }

    private static async Task DeclineAsync(ControlChannel channel, CancellationToken cancellationToken)
    {
        // Mode 0 tells the server the client will not continue (RFC 4656 §3.1).
        try
        {
            await channel.WriteRawAsync(new byte[SetUpResponse.Length], cancellationToken).ConfigureAwait(false);
        }
        catch (IOException)
        {
        }
    }

    public static string DescribeRefusal(AcceptCode accept) => accept switch
    {
        AcceptCode.Failure => "Server denied access (Accept=1: unknown identity or wrong passphrase).",
        AcceptCode.InternalError => "Server internal error (Accept=2).",
        AcceptCode.NotSupported => "Server does not support the request (Accept=3).",
        AcceptCode.PermanentResourceLimitation => "Server refused: permanent resource limitation (Accept=4).",
        AcceptCode.TemporaryResourceLimitation => "Server refused: temporary resource limitation (Accept=5).",
        AcceptCode.NoMatchingIkeSa => "Server has no IKEv2 SA for the SPIs in the KeyID (Accept=6).",
        _ => $"Server refused with unknown Accept value {(byte)accept}.",
    };

    public static string DescribeModes(uint modes)
    {
        var names = new List<string>();
        foreach (SecurityMode m in SecurityModes.StrongestFirst)
        {
            if ((modes & (uint)m) != 0)
            {
                names.Add(m.Name());
            }
        }
        return names.Count == 0 ? "none" : string.Join(",", names);
    }

    /// <summary>An identity from the wire, fit for a log line: control characters replaced, length bounded.</summary>
    public static string LogSafe(string text)
    {
        var builder = new System.Text.StringBuilder(Math.Min(text.Length, 100));
        foreach (char c in text.Length > 100 ? text[..100] : text)
        {
            builder.Append(char.IsControl(c) ? '?' : c);
        }
        return text.Length > 100 ? builder.Append('…').ToString() : builder.ToString();
    }

    private static bool IsSingleBit(uint value) => value != 0 && (value & (value - 1)) == 0;

    private static partial class Log
    {
        [LoggerMessage(EventId = 100, Level = LogLevel.Warning, Message = "{Peer}: client requested mode 0x{Mode:x} which is not among the offered 0x{Offered:x}; refused with Accept=3")]
        public static partial void ModeNotOffered(ILogger logger, string peer, uint mode, uint offered);

        [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "{Peer}: unknown identity '{Identity}'; refused with Accept=1")]
        public static partial void UnknownIdentity(ILogger logger, string peer, string identity);

        [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "{Peer}: Token of identity '{Identity}' does not decrypt to the challenge (wrong passphrase); refused with Accept=1")]
        public static partial void BadToken(ILogger logger, string peer, string identity);

        [LoggerMessage(EventId = 104, Level = LogLevel.Warning, Message = "{Peer}: no usable IKEv2 SA for SPIi {SpiI} SPIr {SpiR} ({Problem}); refused with Accept=6 (RFC 7717)")]
        public static partial void NoIkeSa(ILogger logger, string peer, string spiI, string spiR, string problem);

        [LoggerMessage(EventId = 105, Level = LogLevel.Warning, Message = "{Peer}: IKEv2-derived mode bit without a security mode (Mode 0x{Mode:x}); refused with Accept=3")]
        public static partial void IkeWithoutSecurity(ILogger logger, string peer, uint mode);

        [LoggerMessage(EventId = 103, Level = LogLevel.Information, Message = "{Peer}: client declined the offered modes (Mode 0)")]
        public static partial void ClientDeclined(ILogger logger, string peer);
    }
}
