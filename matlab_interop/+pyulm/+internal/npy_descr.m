function [descr, prec] = npy_descr(cls)
%NPY_DESCR numpy dtype string and fread/fwrite precision of a MATLAB class.
switch cls
    case 'double'
        descr = '<f8';
        prec = 'double';
    case 'single'
        descr = '<f4';
        prec = 'single';
    case 'logical'
        descr = '|b1';
        prec = 'uint8';
    case {'int8', 'uint8'}
        descr = ['|' lower(cls(1)) '1'];
        prec = cls;
    case {'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64'}
        bits = sscanf(cls(find(cls == 't', 1) + 1:end), '%d');
        descr = sprintf('<%s%d', cls(1), bits / 8);
        prec = cls;
    otherwise
        pyulm.internal.raise('pyulm:BadArgument', sprintf('cannot write class %s to .npy', cls));
end
end
