function [pos, kw] = split_args(fname, args)
%SPLIT_ARGS Leading positional arguments, then 'Name', value pairs.
%   Positional arguments are those before the first text argument.
first = numel(args) + 1;
for k = 1:numel(args)
    if ischar(args{k}) || isa(args{k}, 'string')
        first = k;
        break
    end
end
pos = args(1:first - 1);
kw = pyulm.internal.name_value(fname, args(first:end));
end
