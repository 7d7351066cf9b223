using System.Net;
using Ferry.Agent;
using Ferry.Errors;

namespace Ferry.Tests.Agent;

public sealed class AgentHttpAddressTests
{
    [Theory]
    [InlineData("127.0.0.1:9479", "127.0.0.1", 9479)]
    [InlineData(":9100", "127.0.0.1", 9100)]
    [InlineData(":0", "127.0.0.1", 0)]
    [InlineData("localhost:8080", "127.0.0.1", 8080)]
    [InlineData("[::1]:9479", "::1", 9479)]
    [InlineData(" 0.0.0.0:9479 ", "0.0.0.0", 9479)]
    [InlineData("10.1.2.3:65535", "10.1.2.3", 65535)]
    public void Parse_ValidAddress_GivesThatEndpoint(string text, string address, int port)
    {
        var endpoint = AgentHttpAddress.Parse(text);

        Assert.Equal(IPAddress.Parse(address), endpoint.Address);
        Assert.Equal(port, endpoint.Port);
    }

    [Theory]
    [InlineData("9479", "has no port")]
    [InlineData("127.0.0.1:", "'' is not a port")]
    [InlineData("127.0.0.1:65536", "'65536' is not a port")]
    [InlineData("127.0.0.1:-1", "'-1' is not a port")]
    [InlineData("example.com:9479", "'example.com' is not an IP address")]
    [InlineData("::1:9479", "in brackets")]
    public void Parse_Malformed_ThrowsInvalidArgumentSayingWhatToWrite(string text, string problem)
    {
        var error = Assert.Throws<FerryException>(() => AgentHttpAddress.Parse(text));

        Assert.Same(ErrorCodes.ConfigInvalidArgument, error.Code);
        Assert.Contains(problem, error.Message);
        Assert.Contains("--http", error.Message);
        Assert.Contains("127.0.0.1:PORT", error.Message);
    }

    [Fact]
    public void Default_IsLoopbackOnTheDefaultPort()
    {
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, AgentHttpAddress.DefaultPort), AgentHttpAddress.Default);
        Assert.Equal(AgentHttpAddress.Default, new AgentHttpServerOptions().Endpoint);
    }
}
