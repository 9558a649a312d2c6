using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Ippm.Wire.Control;

/// <summary>
/// Set-Up-Response, client → server, 164 octets, never stream-encrypted (RFC 4656 §3.1).
/// <code>
///  0 Mode (4) | 4 KeyID (80) | 84 Token (64) | 148 Client-IV (16)
/// </code>
/// RFC 7717 §5.3 draws Token as 16 and Client-IV as 12 octets; that figure is a drawing error
/// (the Token must carry 64 octets), so this layout is kept for every mode.
/// </summary>
public sealed record SetUpResponse(uint Mode, byte[] KeyId, byte[] Token, byte[] ClientIv)
{
    public const int Length = 164;
    public const int KeyIdLength = 80;
    public const int TokenLength = 64;
    private const int KeyIdOffset = 4;
    private const int TokenOffset = KeyIdOffset + KeyIdLength;
    private const int ClientIvOffset = TokenOffset + TokenLength;

    public void Write(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, Length, nameof(destination));
        BinaryPrimitives.WriteUInt32BigEndian(destination, Mode);
        KeyId.AsSpan(0, KeyIdLength).CopyTo(destination[KeyIdOffset..]);
        Token.AsSpan(0, TokenLength).CopyTo(destination[TokenOffset..]);
        ClientIv.AsSpan(0, 16).CopyTo(destination[ClientIvOffset..]);
    }

    public static OperationStatus TryRead(ReadOnlySpan<byte> source, out SetUpResponse? response)
    {
        response = null;
        if (source.Length < Length)
        {
            return OperationStatus.NeedMoreData;
        }
        response = new SetUpResponse(
            BinaryPrimitives.ReadUInt32BigEndian(source),
            source.Slice(KeyIdOffset, KeyIdLength).ToArray(),
            source.Slice(TokenOffset, TokenLength).ToArray(),
            source.Slice(ClientIvOffset, 16).ToArray());
        return OperationStatus.Done;
    }

    /// <summary>The KeyID for a PSK identity: UTF-8, zero-padded to 80 octets, as the reference writes it.</summary>
    public static byte[] KeyIdFromIdentity(string identity)
    {
        var keyId = new byte[KeyIdLength];
        int count = Encoding.UTF8.GetByteCount(identity);
        if (count > KeyIdLength)
        {
            throw new ArgumentException($"Identity is {count} octets in UTF-8; at most {KeyIdLength} fit the KeyID.", nameof(identity));
        }
        Encoding.UTF8.GetBytes(identity, keyId);
        return keyId;
    }

    /// <summary>The identity in a PSK KeyID: the UTF-8 octets up to the first zero.</summary>
    public static string IdentityFromKeyId(ReadOnlySpan<byte> keyId)
    {
        int end = keyId.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? keyId : keyId[..end]);
    }
}
