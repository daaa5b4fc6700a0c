function check_arg(fname, name, value, kind)
%CHECK_ARG Raise pyulm:BadArgument unless VALUE is of the expected KIND.
%   KIND: 'numeric' (non-empty numeric or logical array), 'array' (numeric
%   or logical, empty allowed), 'struct' (scalar struct), 'text' (char row),
%   'cell_or_numeric'.
switch kind
    case 'numeric'
        ok = (isnumeric(value) || islogical(value)) && ~isempty(value);
        expected = 'a non-empty numeric array';
    case 'array'
        ok = isnumeric(value) || islogical(value);
        expected = 'a numeric array';
    case 'struct'
        ok = isstruct(value) && numel(value) == 1;
        expected = 'a scalar struct';
    case 'text'
        ok = ischar(value) && (isempty(value) || size(value, 1) == 1);
        expected = 'text (a char row vector)';
    case 'cell_or_numeric'
        ok = iscell(value) || isnumeric(value);
        expected = 'a cell array of tracks or a numeric matrix';
    otherwise
        ok = false;
        expected = kind;
end
if ~ok
    pyulm.internal.raise('pyulm:BadArgument', ...
                         sprintf('%s: %s must be %s, got a %s of size %s', fname, name, expected, ...
                                 class(value), mat2str(size(value))));
end
end
