using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;
using CsCheck;
using Ippm.Security.BlockCiphers;

namespace Ippm.Tests.Security.Hashing;

/// <summary>The AES-NI block cipher against FIPS 197 Appendix C.1 and the base library's AES-CBC, bit for bit.</summary>
public sealed class Aes128NiBlocksTests
{
    [Fact]
    public void IsSupported_FollowsTheProcessor()
    {
        Assert.Equal(System.Runtime.Intrinsics.X86.Aes.IsSupported && Sse2.IsSupported, Aes128NiBlocks.IsSupported);
    }

    [Fact]
    public void EncryptDecrypt_Fips197AppendixC1()
    {
        if (!Aes128NiBlocks.IsSupported)
        {
            Assert.Throws<PlatformNotSupportedException>(() => new Aes128NiBlocks(new byte[16]));
            return;
        }
        using var aes = new Aes128NiBlocks(Convert.FromHexString("000102030405060708090a0b0c0d0e0f"));
        byte[] block = Convert.FromHexString("00112233445566778899aabbccddeeff");
        aes.EncryptCbcZeroIv(block, block);
        Assert.Equal("69c4e0d86a7b0430d8cdb78070b4c55a", Convert.ToHexStringLower(block));
        aes.DecryptCbcZeroIv(block, block);
        Assert.Equal("00112233445566778899aabbccddeeff", Convert.ToHexStringLower(block));
    }

    [Fact]
    public void EncryptCbcZeroIv_RandomKeysAndLengths_EqualsAesCbc()
    {
        if (!Aes128NiBlocks.IsSupported)
        {
            return; // TestPacketCipher uses the base library's AES here; nothing else to compare
        }
        Gen.Select(Gen.Byte.Array[16], Gen.Int[0, 12]).SelectMany(t => Gen.Byte.Array[16 * t.Item2], (t, data) => (Key: t.Item1, Data: data)).Sample(t =>
        {
            using var reference = System.Security.Cryptography.Aes.Create();
            reference.Key = t.Key;
            byte[] expected = reference.EncryptCbc(t.Data, new byte[16], PaddingMode.None);
            using var aes = new Aes128NiBlocks(t.Key);
            byte[] actual = (byte[])t.Data.Clone();
            aes.EncryptCbcZeroIv(actual, actual);
            Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(actual));
            aes.DecryptCbcZeroIv(actual, actual);
            Assert.Equal(Convert.ToHexString(t.Data), Convert.ToHexString(actual));
        });
    }
}
