/* cmd_tokenize.h — `prism tokenize` (cmd_tokenize.c): encode stdin with a reference tokenizer,
 * decode an id array, or count tokens. Declared apart from tokenizer.h so the command line stays
 * out of the tokenizer API. */
#ifndef PRISM_CMD_TOKENIZE_H
#define PRISM_CMD_TOKENIZE_H

/* argv: the arguments after `tokenize`. Exit codes: 0 ok, 1 failed, 2 usage. */
int prism_cmd_tokenize(int argc, char **argv);

#endif
