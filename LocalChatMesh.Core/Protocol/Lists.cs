namespace LocalChatMesh.Protocol;

/// <summary>Element-wise equality for the lists inside message records (records compare lists by reference).</summary>
internal static class Lists
{
    public static bool Equal<T>(IReadOnlyList<T>? left, IReadOnlyList<T>? right) =>
        ReferenceEquals(left, right) || (left is not null && right is not null && left.SequenceEqual(right));

    public static int Hash<T>(IReadOnlyList<T>? list)
    {
        if (list is null)
        {
            return 0;
        }

        var hash = new HashCode();
        foreach (var item in list)
        {
            hash.Add(item);
        }

        return hash.ToHashCode();
    }

    public static void Print<T>(System.Text.StringBuilder builder, string name, IReadOnlyList<T>? list)
    {
        builder.Append(name).Append(" = ");
        if (list is null)
        {
            builder.Append("null");
            return;
        }

        builder.Append('[').AppendJoin(", ", list).Append(']');
    }
}
