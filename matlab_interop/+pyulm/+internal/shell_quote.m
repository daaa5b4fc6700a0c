function q = shell_quote(s)
%SHELL_QUOTE Quote one argument for the shell that system() uses.
%   Unix (sh): single quotes; an embedded ' becomes '\''. Windows (cmd):
%   double quotes; " cannot occur in Windows file names and is rejected.
if ~ischar(s) || (~isempty(s) && size(s, 1) ~= 1)
    pyulm.internal.raise('pyulm:BadArgument', 'shell_quote: expected a char row vector');
end
if any(s == 0) || any(s == 10) || any(s == 13)
    pyulm.internal.raise('pyulm:BadArgument', ...
                         sprintf('"%s": file names and paths must not contain newlines or NUL characters', s));
end
if ispc()
    if any(s == '"')
        pyulm.internal.raise('pyulm:BadArgument', ...
                             sprintf('%s: double quotes are not allowed in Windows paths', s));
    end
    q = ['"' s '"'];
else
    q = ['''' strrep(s, '''', '''\''''') ''''];
end
end
