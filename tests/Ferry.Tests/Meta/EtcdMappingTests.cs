using System.Text;
using Ferry.Etcd.Internal;
using Xunit;

namespace Ferry.Tests.Meta;

public sealed class EtcdMappingTests
{
    [Theory]
    [InlineData("/a/", "/a0")]
    [InlineData("a", "b")]
    public void PrefixEnd_AsciiPrefix_IncrementsLastByte(string prefix, string expected)
    {
        Assert.Equal(Encoding.UTF8.GetBytes(expected), EtcdMapping.PrefixEnd(prefix).ToByteArray());
    }

    [Fact]
    public void PrefixEnd_EmptyPrefix_IsEveryKey()
    {
        Assert.Equal(new byte[] { 0 }, EtcdMapping.PrefixEnd("").ToByteArray());
    }

    [Fact]
    public void PrefixEnd_TrailingMultiByteChar_WorksOnBytesNotChars()
    {
        // "é" is C3 A9 in UTF-8: the range end is C3 AA, not the UTF-8 of the next char.
        Assert.Equal(new byte[] { (byte)'/', 0xC3, 0xAA }, EtcdMapping.PrefixEnd("/é").ToByteArray());
    }
}
