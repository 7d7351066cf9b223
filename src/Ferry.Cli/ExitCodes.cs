using Ferry.Errors;

namespace Ferry.Cli;

/// <summary>Process exit codes (DESIGN §4), after sysexits.h.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The command ran and failed (a task missing, resume refused, …).</summary>
    public const int Failure = 1;

    public const int Usage = 64;

    /// <summary>A dependency (metadata store, storage) was unreachable or too slow: try again later.</summary>
    public const int Unavailable = 69;

    public const int Internal = 70;

    /// <summary>Halted (fenced by epoch, metadata unusable): restart me.</summary>
    public const int Halt = 75;

    /// <summary>Stopped by SIGINT or SIGTERM before it was done (128 + SIGINT, as shells report it).</summary>
    public const int Interrupted = 130;

    public static int For(FerryException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (error.Code.Area == "Config") return Usage;
        return error.Class switch
        {
            ErrorClass.Transient => Unavailable,
            ErrorClass.Internal => Internal,
            ErrorClass.Fenced => error.Code == ErrorCodes.FenceDeployGeneration ? Ok : Halt,
            _ => Failure,
        };
    }
}
