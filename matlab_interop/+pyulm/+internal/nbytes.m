function n = nbytes(x)
%NBYTES Bytes of a numeric or logical array's data.
switch class(x)
    case {'double', 'int64', 'uint64'}
        w = 8;
    case {'single', 'int32', 'uint32'}
        w = 4;
    case {'int16', 'uint16', 'char'}
        w = 2;
    otherwise
        w = 1;
end
if ~isreal(x)
    w = 2 * w;
end
n = numel(x) * w;
end
