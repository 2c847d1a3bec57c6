using System.Text.Json;
using System.Text.Json.Serialization;

namespace LocalChatMesh.Protocol;

/// <summary>
/// Source-generated serializers for the wire messages: no reflection at run time, and the
/// snake_case field names of the protocol come from one policy rather than per-property attributes.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(ClientMessage))]
[JsonSerializable(typeof(ServerMessage))]
internal sealed partial class ProtocolJsonContext : JsonSerializerContext;
