// server/token_file.h — the token file's text, between auth.cc, which owns
// the format (TokenSet::Parse reads it, TokenFileText writes it), and
// token_file.cc, which reads the file and replaces it.
#ifndef QUIPU_SERVER_TOKEN_FILE_H_
#define QUIPU_SERVER_TOKEN_FILE_H_

#include <string>
#include <vector>

#include "server/auth.h"

namespace quipu::server {

// The token file holding `entries`, in the shape of auth.h: indented JSON
// ending in a newline, optional keys left out when unset. TokenSet::Parse
// reads back what it writes when every entry passes its checks; callers
// check that before writing anything.
std::string TokenFileText(const std::vector<TokenEntry>& entries);

}  // namespace quipu::server

#endif  // QUIPU_SERVER_TOKEN_FILE_H_
