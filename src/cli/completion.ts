/** Completion scripts: each shell asks `banger __complete <words>` for candidates. */
export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

export function completionScript(shell: Shell): string {
  switch (shell) {
    case 'bash':
      return `# bash completion for banger
_banger_complete() {
  local IFS=$'\\n'
  COMPREPLY=($(banger __complete "\${COMP_WORDS[@]:1:$COMP_CWORD}" 2>/dev/null))
}
complete -F _banger_complete banger
`;
    case 'zsh':
      return `#compdef banger
# zsh completion for banger
_banger() {
  local -a candidates
  candidates=("\${(@f)$(banger __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  compadd -a candidates
}
compdef _banger banger
`;
    case 'fish':
      return `# fish completion for banger
complete -c banger -f -a '(banger __complete (commandline -opc)[2..-1] (commandline -ct) 2>/dev/null)'
`;
  }
}
