function kw = name_value(fname, args)
%NAME_VALUE 'Name', value pairs -> struct of Python keyword arguments.
%   Names are Python keyword names (e.g. 'number_of_particles'); they must be
%   valid identifiers.
kw = struct();
if mod(numel(args), 2) ~= 0
    pyulm.internal.raise('pyulm:BadArgument', ...
                         sprintf('%s: options must come in ''Name'', value pairs (got %d trailing values)', ...
                                 fname, numel(args)));
end
for k = 1:2:numel(args)
    name = args{k};
    if isa(name, 'string')
        name = char(name);
    end
    if ~ischar(name) || isempty(regexp(name, '^[A-Za-z]\w*$', 'once'))
        pyulm.internal.raise('pyulm:BadArgument', ...
                             sprintf('%s: option %d: expected an option name (text), got a %s', ...
                                     fname, (k + 1) / 2, class(name)));
    end
    kw.(name) = args{k + 1};
end
end
