using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Ippm.Ikev2.Crypto.Modp;

/// <summary>
/// MODP exponentiation through OpenSSL's <c>BN_mod_exp_mont_consttime</c> (fixed-window Montgomery with
/// cache-timing-safe table lookups), in the libcrypto that .NET itself loads on Linux. The exponent BIGNUM carries
/// <c>BN_FLG_CONSTTIME</c>; BIGNUMs that held secrets are freed with <c>BN_clear_free</c>. One Montgomery context per
/// group is built once and then only read, as OpenSSL's own DH shares it between threads.
/// </summary>
internal sealed unsafe class LibCryptoModpEngine : IModpEngine
{
    // Tried in order: OpenSSL 3 (what .NET 10 uses on current distributions), the development link, then 1.1,
    // which has every function used here too.
    private static readonly string[] s_libraryNames = ["libcrypto.so.3", "libcrypto.so", "libcrypto.so.1.1"];

    private const int BnFlgConsttime = 0x04; // openssl/bn.h

    private readonly delegate* unmanaged<nint> _ctxNew;
    private readonly delegate* unmanaged<nint, void> _ctxFree;
    private readonly delegate* unmanaged<nint> _bnNew;
    private readonly delegate* unmanaged<nint, void> _bnClearFree;
    private readonly delegate* unmanaged<byte*, int, nint, nint> _bin2bn;
    private readonly delegate* unmanaged<nint, byte*, int, int> _bn2binpad;
    private readonly delegate* unmanaged<nint, int, void> _setFlags;
    private readonly delegate* unmanaged<nint, nint, nint, nint, nint, nint, int> _modExpConsttime;
    private readonly delegate* unmanaged<nint> _montNew;
    private readonly delegate* unmanaged<nint, nint, nint, int> _montSet;

    // Per group: p and its Montgomery context, never freed (process lifetime, a handful of groups at most).
    private readonly ConcurrentDictionary<ModpGroup, (nint Prime, nint Mont)> _groups = new();
    private readonly Lock _groupsLock = new();

    private LibCryptoModpEngine(nint library, string name)
    {
        _ctxNew = (delegate* unmanaged<nint>)NativeLibrary.GetExport(library, "BN_CTX_new");
        _ctxFree = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(library, "BN_CTX_free");
        _bnNew = (delegate* unmanaged<nint>)NativeLibrary.GetExport(library, "BN_new");
        _bnClearFree = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(library, "BN_clear_free");
        _bin2bn = (delegate* unmanaged<byte*, int, nint, nint>)NativeLibrary.GetExport(library, "BN_bin2bn");
        _bn2binpad = (delegate* unmanaged<nint, byte*, int, int>)NativeLibrary.GetExport(library, "BN_bn2binpad");
        _setFlags = (delegate* unmanaged<nint, int, void>)NativeLibrary.GetExport(library, "BN_set_flags");
        _modExpConsttime = (delegate* unmanaged<nint, nint, nint, nint, nint, nint, int>)NativeLibrary.GetExport(library, "BN_mod_exp_mont_consttime");
        _montNew = (delegate* unmanaged<nint>)NativeLibrary.GetExport(library, "BN_MONT_CTX_new");
        _montSet = (delegate* unmanaged<nint, nint, nint, int>)NativeLibrary.GetExport(library, "BN_MONT_CTX_set");
        string version = "OpenSSL";
        if (NativeLibrary.TryGetExport(library, "OpenSSL_version", out nint versionExport))
        {
            byte* text = ((delegate* unmanaged<int, byte*>)versionExport)(0);
            version = Marshal.PtrToStringUTF8((nint)text) ?? version;
        }
        Description = $"{version} ({name}) BN_mod_exp_mont_consttime, constant-time";
    }

    public string Description { get; }

    public bool IsConstantTime => true;

    /// <summary>The engine over the first libcrypto that loads and exports every function used, or null.</summary>
    public static LibCryptoModpEngine? TryCreate()
    {
        foreach (string name in s_libraryNames)
        {
            if (!NativeLibrary.TryLoad(name, out nint library))
            {
                continue;
            }
            try
            {
                return new LibCryptoModpEngine(library, name);
            }
            catch (EntryPointNotFoundException)
            {
                // Not a usable libcrypto (e.g. LibreSSL or 1.0 without BN_bn2binpad): try the next name.
            }
        }
        return null;
    }

    public void ModPow(ModpGroup group, ReadOnlySpan<byte> value, ReadOnlySpan<byte> exponent, Span<byte> result)
    {
        if (result.Length < group.Length)
        {
            throw new ArgumentException("The result must hold the group's length.", nameof(result));
        }
        (nint prime, nint mont) = GroupContext(group);
        nint ctx = _ctxNew();
        nint bnValue = 0, bnExponent = 0, bnResult = 0;
        try
        {
            Check(ctx);
            fixed (byte* v = value)
            fixed (byte* e = exponent)
            fixed (byte* r = result)
            {
                bnValue = Check(_bin2bn(v, value.Length, 0));
                bnExponent = Check(_bnNew());
                _setFlags(bnExponent, BnFlgConsttime);
                Check(_bin2bn(e, exponent.Length, bnExponent));
                bnResult = Check(_bnNew());
                _setFlags(bnResult, BnFlgConsttime);
                if (_modExpConsttime(bnResult, bnValue, bnExponent, prime, ctx, mont) != 1
                    || _bn2binpad(bnResult, r, group.Length) != group.Length)
                {
                    throw new CryptographicException("libcrypto: BN_mod_exp_mont_consttime failed.");
                }
            }
        }
        finally
        {
            // BN_clear_free and BN_CTX_free accept NULL; the context's temporaries are cleansed on free.
            _bnClearFree(bnResult);
            _bnClearFree(bnExponent);
            _bnClearFree(bnValue);
            _ctxFree(ctx);
        }
    }

    private (nint Prime, nint Mont) GroupContext(ModpGroup group)
    {
        if (_groups.TryGetValue(group, out (nint, nint) known))
        {
            return known;
        }
        lock (_groupsLock)
        {
            if (_groups.TryGetValue(group, out known))
            {
                return known;
            }
            nint ctx = Check(_ctxNew());
            try
            {
                nint prime;
                fixed (byte* p = group.Prime)
                {
                    prime = Check(_bin2bn(p, group.Length, 0));
                }
                nint mont = Check(_montNew());
                if (_montSet(mont, prime, ctx) != 1)
                {
                    throw new CryptographicException("libcrypto: BN_MONT_CTX_set failed.");
                }
                _groups[group] = (prime, mont);
                return (prime, mont);
            }
            finally
            {
                _ctxFree(ctx);
            }
        }
    }

    private static nint Check(nint pointer) =>
        pointer != 0 ? pointer : throw new CryptographicException("libcrypto: allocation failed.");
}
