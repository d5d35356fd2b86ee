// Package recipe owns the built-in recipes (`bake-os sysext create`,
// `list`, `release`): the recipe schema ([Recipe]) decoded strictly from
// the embedded recipes/*.json with static files from recipefiles/, its
// validation (every problem of every recipe reported at once, by file and
// field path), the engine that builds a recipe's tree (resolve options and
// variables, download and verify upstream artefacts, extract members from
// archives, run install scripts, build in a container or through
// oci.Rootfs and flix or flatwrap, add static and generated files) and
// packs it with sysextbuild, listing upstream versions ([ListVersions],
// [Latest]), the HTTP downloads behind both, and URL rewrites to a mirror
// ([Rewrite]).
//
// Archives are hostile input: members are extracted through an os.Root
// (package rootfs), so no entry or earlier symlink reaches outside the
// tree.
package recipe
