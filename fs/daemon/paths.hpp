// Paths of the mount, resolved once before mounting: resolving the mount
// point afterwards, from nfsguard itself, would ask its own request loop.
#pragma once

#include <cstdlib>
#include <string>

namespace nfsguard::fs {

// `path` made absolute and free of symlinks, or as given if that fails.
inline std::string absolute_path(const std::string& path) {
    char* abs = realpath(path.c_str(), nullptr);
    std::string resolved = abs ? abs : path;
    free(abs);
    return resolved;
}

// An absolute path as one file name: '/' becomes '-' ("/var/mail" ->
// "-var-mail", "/" -> "-root").
inline std::string path_as_name(const std::string& absolute) {
    std::string name;
    for (char c : absolute) name += c == '/' ? '-' : c;
    return name == "-" ? "-root" : name;
}

}  // namespace nfsguard::fs
