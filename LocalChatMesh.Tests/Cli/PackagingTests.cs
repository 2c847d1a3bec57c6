using System.Text.RegularExpressions;

namespace LocalChatMesh.Tests.Cli;

/// <summary>What nuget.org shows and what the README's install leaves behind.</summary>
public partial class PackagingTests
{
    [TestCase("LocalChatMesh.Core")]
    [TestCase("LocalChatMesh.Cli")]
    public void The_package_readme_links_only_to_absolute_addresses(string package)
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", "packages", package + ".md"));

        var relative = Link().Matches(readme).Select(m => m.Groups["target"].Value)
            .Where(target => !target.StartsWith("https://", StringComparison.Ordinal))
            .ToList();
        Assert.That(relative, Is.Empty, "nuget.org cannot resolve relative links");
    }

    [TestCase("LocalChatMesh.Core/LocalChatMesh.Core.csproj", "LocalChatMesh.Core")]
    [TestCase("LocalChatMesh.Cli/LocalChatMesh.Cli.csproj", "LocalChatMesh.Cli")]
    public void Each_package_packs_its_own_readme(string project, string package)
    {
        var text = File.ReadAllText(Path.Combine(RepositoryRoot(), project));

        Assert.That(text, Does.Contain($@"docs\packages\{package}.md"" Pack=""true"" PackagePath=""\README.md"""));
    }

    [TestCase("tools/")]
    [TestCase("artifacts/")]
    public void The_readmes_tool_install_folders_are_ignored(string folder)
    {
        var ignored = File.ReadAllLines(Path.Combine(RepositoryRoot(), ".gitignore"));

        Assert.That(ignored, Has.Member(folder));
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "LocalChatMesh.sln")))
            {
                return directory.FullName;
            }
        }

        Assert.Ignore("not run from inside the repository");
        return "";
    }

    [GeneratedRegex(@"\]\((?<target>[^)\s]+)\)")]
    private static partial Regex Link();
}
