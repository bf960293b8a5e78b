namespace SharpLens.Hub;

/// <summary>Progress of one file download.</summary>
/// <param name="File">The file's path inside the repository, e.g. <c>model-00001-of-00002.safetensors</c>.</param>
/// <param name="Received">Bytes of the file on disk so far (including bytes of an earlier, resumed attempt).</param>
/// <param name="Total">Size of the file when the server announced it.</param>
public sealed record DownloadProgress(string File, long Received, long? Total);
